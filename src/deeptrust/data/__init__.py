"""Dataset import and validation: ``deeptrust data import`` and the functions behind it."""

from deeptrust.data.combine import CombinedDataset, combine_manifests, ensure_combined
from deeptrust.data.errors import DataError
from deeptrust.data.importer import ImportResult, ensure_dataset, import_dataset, load_manifest

__all__ = [
    "CombinedDataset",
    "DataError",
    "ImportResult",
    "combine_manifests",
    "ensure_combined",
    "ensure_dataset",
    "import_dataset",
    "load_manifest",
]
