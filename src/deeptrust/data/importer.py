"""Import a dataset source into ``<datasets>/<name>/``: manifest, excluded rows and a report.

Usage::

    from deeptrust.data import import_dataset, ensure_dataset, load_manifest
    result = import_dataset("../shared/datasets/cifake.tar.gz", name="cifake")
    manifest = load_manifest("cifake")  # one row per kept image

Non-goals: no pixel processing (resizing, re-encoding) and no copying of images; the manifest
points at the files where they are (archives are extracted once into the cache).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deeptrust.data._metadata import METADATA_COLUMNS, METADATA_DEFAULTS
from deeptrust.data.errors import DataError
from deeptrust.data.render import format_report
from deeptrust.data.report import build_report
from deeptrust.data.scan import scan_files
from deeptrust.data.sources import read_source, source_fingerprint
from deeptrust.data.split import carve_validation
from deeptrust.data.validate import find_problems
from deeptrust.settings import get_settings

MANIFEST_COLUMNS = [
    "path", "relpath", "sha256", "bytes", "format", "width", "height", "mode", "label",
    "split", "source", "generator", "exif", "jpeg_quality", "qtable_hash", "dhash", *METADATA_COLUMNS,
    "duplicate", "leak",
]  # fmt: skip
# Columns added after the first release, with the value an older manifest gets on load.
ADDED_COLUMNS = {"generator": "", "dhash": "", **METADATA_DEFAULTS}
EXCLUDED_COLUMNS = [*MANIFEST_COLUMNS, "reason", "error"]
MANIFEST_FILE, EXCLUDED_FILE = "manifest.parquet", "excluded.parquet"
REPORT_JSON, REPORT_TXT = "report.json", "report.txt"
DEFAULT_VAL_FRACTION, DEFAULT_SEED = 0.1, 0
# A source with no val and no test split of its own, imported with fractions left unset (None): carve
# 20 % test, then 15 % of the rest as val (the split of the shipped `photos` model).
SPLITLESS_TEST_FRACTION, SPLITLESS_VAL_FRACTION = 0.2, 0.15
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, eq=False)
class ImportResult:
    name: str
    directory: Path
    manifest: pd.DataFrame
    excluded: pd.DataFrame
    report: dict
    dataset_hash: str


def import_dataset(
    src: str | Path,
    *,
    name: str,
    root: Path | None = None,
    val_fraction: float | None = DEFAULT_VAL_FRACTION,
    seed: int = DEFAULT_SEED,
    keep_duplicates: bool = False,
    keep_leaks: bool = False,
    workers: int | None = None,
    progress: bool = True,
    test_fraction: float | None = 0.0,
) -> ImportResult:
    """Scan, validate and split ``src``; write ``root/name/`` (replacing an earlier import).

    For a source without a test split, ``test_fraction`` of each (label, source) stratum is carved
    from train first (seeded, grouped by content); ``val_fraction`` of what remains then becomes val.
    A fraction left as None takes the default of :func:`resolve_fractions`.
    """
    _check_name(name)
    for label, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if fraction is not None and not 0 <= fraction < 1:
            raise DataError(f"{label} must be in [0, 1), got {fraction}")
    settings = get_settings()
    source = read_source(src, cache_dir=settings.cache_dir, progress=progress)
    facts = scan_files(
        source.files["path"].tolist(),
        workers=workers,
        progress=progress,
        max_pixels=settings.max_image_pixels,
    )
    table = pd.concat([source.files, facts], axis=1)
    source_splits = sorted(set(table["split"]) - {""})
    val_fraction, test_fraction = resolve_fractions(val_fraction, test_fraction, source_splits)
    table["split"] = table["split"].replace("", "train")
    table = table.sort_values("relpath", kind="stable").reset_index(drop=True)
    table, stats = find_problems(table, keep_duplicates=keep_duplicates, keep_leaks=keep_leaks)
    if not (table["reason"] == "").any():
        raise DataError(f"none of the {len(table):,} image files of {source.origin} can be kept")
    split_info = {"source_splits": source_splits, "carved_val": False, "moved_to_val": 0}
    if "test" not in source_splits and test_fraction > 0:
        kept = table[table["reason"] == ""]
        moved = carve_validation(kept, val_fraction=test_fraction, seed=seed + 1)
        table.loc[moved, "split"] = "test"
        split_info.update(carved_test=True, moved_to_test=len(moved), test_fraction=test_fraction)
    if "val" not in source_splits and val_fraction > 0:
        moved = carve_validation(table[table["reason"] == ""], val_fraction=val_fraction, seed=seed)
        table.loc[moved, "split"] = "val"
        split_info.update(carved_val=True, moved_to_val=len(moved))
    split_info.update(val_fraction=val_fraction, seed=seed)
    manifest = table.loc[table["reason"] == "", MANIFEST_COLUMNS].reset_index(drop=True)
    excluded = table.loc[table["reason"] != "", EXCLUDED_COLUMNS].reset_index(drop=True)
    dataset_hash = hash_manifest(manifest)
    report = build_report(
        name=name,
        source=source,
        table=table,
        stats=stats,
        options=_options(keep_duplicates, keep_leaks, val_fraction, seed, test_fraction),
        fingerprint=source_fingerprint(source.origin),
        split_info=split_info,
        dataset_hash=dataset_hash,
    )
    directory = _dataset_root(root) / name
    _write(directory, manifest, excluded, report)
    return ImportResult(name, directory, manifest, excluded, report, dataset_hash)


def ensure_dataset(
    src: str | Path,
    *,
    name: str | None = None,
    keep_duplicates: bool = False,
    keep_leaks: bool = False,
    **kwargs,
) -> ImportResult:
    """Like :func:`import_dataset`, but reuse an import of the same, unchanged source and options.

    ``src`` may also name an imported dataset, its folder, or its ``manifest.parquet``.
    """
    root = _dataset_root(kwargs.get("root"))
    existing = _find_dataset(src, root)
    if existing is not None:
        return _load_result(existing)
    if not Path(src).expanduser().exists():
        known = ", ".join(_dataset_names(root)) or "none yet"
        raise DataError(
            f"{str(src)!r} is neither a file or folder nor a dataset in {root} (imported: {known})"
        )
    name = name or default_name(src)
    options = _options(
        keep_duplicates,
        keep_leaks,
        kwargs.get("val_fraction", DEFAULT_VAL_FRACTION),
        kwargs.get("seed", DEFAULT_SEED),
        kwargs.get("test_fraction", 0.0),
    )
    directory = root / name
    if _is_current(directory, source_fingerprint(src), options):
        return _load_result(directory)
    return import_dataset(src, name=name, keep_duplicates=keep_duplicates, keep_leaks=keep_leaks, **kwargs)


def load_manifest(name_or_path: str | Path, root: Path | None = None) -> pd.DataFrame:
    """The kept rows of an imported dataset, given its name, folder or manifest file."""
    root = _dataset_root(root)
    directory = _find_dataset(name_or_path, root)
    if directory is None:
        known = ", ".join(_dataset_names(root)) or "none yet"
        raise DataError(
            f"no imported dataset {str(name_or_path)!r} in {root} (imported: {known}); "
            "run `deeptrust data import SRC --name NAME` first"
        )
    return read_manifest(directory / MANIFEST_FILE)


def read_manifest(path: Path) -> pd.DataFrame:
    """A saved manifest (or excluded table), with columns added since older imports filled in."""
    manifest = pd.read_parquet(path)
    for column, default in ADDED_COLUMNS.items():
        if column not in manifest:
            manifest[column] = default
    return manifest


def resolve_fractions(
    val_fraction: float | None, test_fraction: float | None, source_splits: list[str]
) -> tuple[float, float]:
    """The (val, test) fractions an import uses; None means the default for this source.

    Defaults: a source with neither val nor test split gets test 0.2 and val 0.15 (of the rest);
    any other source val 0.1 (when it has no val) and no carved test.
    """
    splitless = not ({"val", "test"} & set(source_splits))
    if val_fraction is None:
        val_fraction = SPLITLESS_VAL_FRACTION if splitless else DEFAULT_VAL_FRACTION
    if test_fraction is None:
        test_fraction = SPLITLESS_TEST_FRACTION if splitless else 0.0
    return float(val_fraction), float(test_fraction)


def load_report(name_or_path: str | Path, root: Path | None = None) -> dict:
    """The saved ``report.json`` of an imported dataset."""
    root = _dataset_root(root)
    directory = _find_dataset(name_or_path, root)
    if directory is None or not (directory / REPORT_JSON).is_file():
        raise DataError(f"no import report for {str(name_or_path)!r} in {root}")
    return json.loads((directory / REPORT_JSON).read_text())


def hash_manifest(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (sha256, label, split) rows: same data and split, same hash."""
    rows = sorted(zip(manifest["sha256"], manifest["label"], manifest["split"], strict=True))
    digest = hashlib.sha256()
    for row in rows:
        digest.update(("\t".join(row) + "\n").encode())
    return digest.hexdigest()


def default_name(src: str | Path) -> str:
    """``<slug of the file or folder name>-<8 hex of its absolute path>``: ``cifake-1a2b3c4d``."""
    path = Path(src).expanduser().resolve()
    stem = re.sub(r"(\.tar\.gz|\.tgz|\.tar|\.csv)$", "", path.name, flags=re.IGNORECASE)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._").lower() or "dataset"
    return f"{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise DataError(
            f"dataset name {name!r} must start with a letter or digit and use only letters, "
            "digits, '.', '_' and '-'"
        )


def _options(
    keep_duplicates: bool,
    keep_leaks: bool,
    val_fraction: float | None,
    seed: int,
    test_fraction: float | None = 0.0,
) -> dict:
    """The options a report records; an unset (None) fraction is resolved when compared."""
    return {
        "val_fraction": None if val_fraction is None else float(val_fraction),
        "test_fraction": None if test_fraction is None else float(test_fraction),
        "seed": int(seed),
        "keep_duplicates": bool(keep_duplicates),
        "keep_leaks": bool(keep_leaks),
    }


def _dataset_root(root: Path | str | None) -> Path:
    return Path(root) if root is not None else get_settings().datasets_dir


def _dataset_names(root: Path) -> list[str]:
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST_FILE}")) if root.is_dir() else []


def _find_dataset(src: str | Path, root: Path) -> Path | None:
    path = Path(src).expanduser()
    if path.name == MANIFEST_FILE and path.is_file():
        return path.parent
    if path.is_dir() and (path / MANIFEST_FILE).is_file():
        return path
    named = root / str(src)
    if not path.exists() and _NAME.match(str(src)) and (named / MANIFEST_FILE).is_file():
        return named
    return None


def _is_current(directory: Path, fingerprint: str, options: dict) -> bool:
    try:
        report = json.loads((directory / REPORT_JSON).read_text())
    except (OSError, ValueError):
        return False
    splits = report.get("split", {}).get("source_splits", [])
    val, test = resolve_fractions(options["val_fraction"], options["test_fraction"], splits)
    return (
        report.get("source", {}).get("fingerprint") == fingerprint
        and report.get("options") == {**options, "val_fraction": val, "test_fraction": test}
        and (directory / MANIFEST_FILE).is_file()
    )


def _load_result(directory: Path) -> ImportResult:
    report_path = directory / REPORT_JSON
    if not report_path.is_file():
        raise DataError(f"{directory} has no {REPORT_JSON}: the import did not finish; import again")
    report = json.loads(report_path.read_text())
    manifest = read_manifest(directory / MANIFEST_FILE)
    excluded_path = directory / EXCLUDED_FILE
    excluded = (
        read_manifest(excluded_path) if excluded_path.is_file() else pd.DataFrame(columns=EXCLUDED_COLUMNS)
    )
    dataset_hash = report.get("dataset_hash") or hash_manifest(manifest)
    return ImportResult(directory.name, directory, manifest, excluded, report, dataset_hash)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _write(directory: Path, manifest: pd.DataFrame, excluded: pd.DataFrame, report: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # report.json goes last: its presence marks a complete import that ensure_dataset may reuse.
    (directory / REPORT_JSON).unlink(missing_ok=True)
    manifest.to_parquet(directory / MANIFEST_FILE, index=False)
    excluded.to_parquet(directory / EXCLUDED_FILE, index=False)
    (directory / REPORT_TXT).write_text(format_report(report))
    text = json.dumps(report, indent=2, default=_json_default)
    (directory / REPORT_JSON).write_text(text + "\n")
