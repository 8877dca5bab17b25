"""Dataset import and validation: ``deeptrust data import`` and the functions behind it."""

from deeptrust.data.errors import DataError
from deeptrust.data.importer import ImportResult, ensure_dataset, import_dataset, load_manifest

__all__ = ["DataError", "ImportResult", "ensure_dataset", "import_dataset", "load_manifest"]
