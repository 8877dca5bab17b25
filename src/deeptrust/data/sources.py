"""Enumerate the image files of a dataset source: a folder, a tar archive or a CSV.

Folders and archives use the ImageFolder layout, ``[split/]label/*.ext``, optionally under one
wrapper folder (``cifake/train/REAL/...``). A CSV lists ``path,label[,split][,source]`` with paths
relative to the CSV's folder. Files that are not taken are returned with a reason, never dropped.
This module reads names only; the image bytes are read by :mod:`deeptrust.data.scan`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from deeptrust.data.archive import extract_archive, is_archive
from deeptrust.data.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
SPLIT_ALIASES = {
    "train": "train",
    "val": "val",
    "validation": "val",
    "valid": "val",
    "test": "test",
}
FILE_COLUMNS = ["path", "relpath", "label", "split", "source"]
LAYOUT_HELP = "expected [split/]label/*.jpg folders, a .tar/.tar.gz/.tgz of them, or a .csv"


@dataclass(frozen=True, eq=False)
class Source:
    origin: Path  # what the user named, absolute
    kind: str  # "folder", "archive" or "csv"
    root: Path  # the folder that relpaths are relative to
    layout: str  # "labels", "splits" or "csv"
    files: pd.DataFrame  # FILE_COLUMNS; split is "" when the source has none
    skipped: pd.DataFrame  # relpath, reason


def read_source(src: str | Path, *, cache_dir: Path, progress: bool = True) -> Source:
    """Candidate image files of ``src`` with label and split, plus the files that were skipped."""
    origin = Path(src).expanduser().absolute()
    if not origin.exists():
        raise DataError(f"source {str(src)!r} does not exist; {LAYOUT_HELP}")
    if origin.is_dir():
        return _from_folder(origin, origin, kind="folder")
    if is_archive(origin):
        root = extract_archive(origin, cache_dir, progress=progress).absolute()
        return _from_folder(origin, root, kind="archive")
    if origin.suffix.lower() == ".csv":
        return _from_csv(origin)
    raise DataError(f"cannot import {origin.name!r}: unknown file type; {LAYOUT_HELP}")


def source_fingerprint(src: str | Path) -> str:
    """Cheap identity of a source: path, size and mtime; for folders every file's name and size."""
    path = Path(src).expanduser().resolve()
    if path.is_dir():
        lines = [f"{rel}\t{size}" for rel, size in _walk(path, with_sizes=True)]
    else:
        stat = path.stat()
        lines = [f"{stat.st_size}\t{stat.st_mtime_ns}"]
    text = "\n".join([str(path), *lines])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _walk(root: Path, *, with_sizes: bool = False) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(root / rel) as entries:
            for entry in entries:
                child = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append(child)
                else:
                    found.append((child, entry.stat().st_size if with_sizes else 0))
    return sorted(found)


def _wrapper_depth(root: Path) -> int:
    """How many single wrapper folders (no files of their own) sit above the layout."""
    depth, here = 0, root
    while True:
        children = [c for c in here.iterdir() if not _hidden(c.name)]
        dirs = [c for c in children if c.is_dir()]
        if len(children) != 1 or len(dirs) != 1:
            return depth
        inner = [c for c in dirs[0].iterdir() if not _hidden(c.name)]
        if not inner or not all(c.is_dir() for c in inner):
            return depth  # the single child is a label folder of images, not a wrapper
        depth, here = depth + 1, dirs[0]


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _from_folder(origin: Path, root: Path, *, kind: str) -> Source:
    relpaths = [rel for rel, _ in _walk(root)]
    depth = _wrapper_depth(root)
    inner = [rel.split("/")[depth:] for rel in relpaths]
    layout = _detect_layout(inner, origin)
    rows, skipped, base = [], [], str(root)
    for rel, parts in zip(relpaths, inner, strict=True):
        reason = _skip_reason(parts, layout)
        if reason:
            skipped.append((rel, reason))
            continue
        if layout == "splits":
            split, label = SPLIT_ALIASES[parts[0].lower()], parts[1]
        else:
            split, label = "", parts[0]
        rows.append((os.path.join(base, rel), rel, label, split, ""))
    files = pd.DataFrame(rows, columns=FILE_COLUMNS)
    _require_images(files, skipped, origin)
    return Source(origin, kind, root, layout, files, pd.DataFrame(skipped, columns=["relpath", "reason"]))


def _detect_layout(inner: list[list[str]], origin: Path) -> str:
    tops = {parts[0] for parts in inner if len(parts) >= 2 and not _hidden(parts[0])}
    splits = {top for top in tops if top.lower() in SPLIT_ALIASES}
    if splits and splits != tops:
        others = ", ".join(sorted(tops - splits))
        raise DataError(
            f"{origin} mixes split folders ({', '.join(sorted(splits))}) with other folders "
            f"({others}); {LAYOUT_HELP}. Move the other folders into a split or out of the source."
        )
    return "splits" if splits else "labels"


def _skip_reason(parts: list[str], layout: str) -> str:
    if any(_hidden(part) for part in parts):
        return "hidden file or folder"
    suffix = os.path.splitext(parts[-1])[1].lower()
    if suffix not in IMAGE_EXTENSIONS:
        return f"extension {suffix or '(none)'} is not an image type"
    if len(parts) < (3 if layout == "splits" else 2):
        return "not inside a label folder"
    return ""


def _require_images(files: pd.DataFrame, skipped: list[tuple[str, str]], origin: Path) -> None:
    if files.empty:
        detail = f" ({len(skipped)} other files skipped, e.g. {skipped[0][0]!r})" if skipped else ""
        raise DataError(f"no image files found in {origin}{detail}; {LAYOUT_HELP}")


def _from_csv(csv: Path) -> Source:
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"could not read {csv} as CSV: {exc}") from exc
    table.columns = [str(column).strip().lower() for column in table.columns]
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise DataError(
            f"{csv.name} lacks column(s) {', '.join(sorted(missing))}: expected a header "
            f"path,label[,split][,source]; found {', '.join(table.columns) or 'no columns'}"
        )
    for column in ("path", "label"):
        _require_filled(table[column].str.strip(), column, csv)
    relpaths = table["path"].str.strip()
    suffixes = relpaths.map(lambda rel: os.path.splitext(rel)[1].lower())
    taken = suffixes.isin(IMAGE_EXTENSIONS)
    skipped = pd.DataFrame(
        {
            "relpath": relpaths[~taken],
            "reason": "extension " + suffixes[~taken] + " is not an image type",
        }
    )
    files = pd.DataFrame(
        {
            "path": [os.path.normpath(csv.parent / rel) for rel in relpaths[taken]],
            "relpath": relpaths[taken],
            "label": table["label"].str.strip()[taken],
            "split": _csv_splits(table, csv)[taken],
            "source": table["source"].str.strip()[taken] if "source" in table else "",
        }
    ).reset_index(drop=True)
    _require_images(files, list(skipped.itertuples(index=False, name=None)), csv)
    return Source(csv, "csv", csv.parent, "csv", files, skipped.reset_index(drop=True))


def _require_filled(values: pd.Series, column: str, csv: Path) -> None:
    empty = values.index[values == ""]
    if len(empty):
        rows = ", ".join(str(i + 2) for i in empty[:5])  # +2: 1-based and the header line
        raise DataError(f"{csv.name}: empty {column!r} on line(s) {rows}; every row needs one")


def _csv_splits(table: pd.DataFrame, csv: Path) -> pd.Series:
    if "split" not in table:
        return pd.Series("", index=table.index)
    raw = table["split"].str.strip().str.lower()
    if (raw == "").all():
        return raw
    unknown = sorted(value or "(empty)" for value in set(raw) - set(SPLIT_ALIASES))
    if unknown:
        raise DataError(
            f"{csv.name}: split values {unknown} are not understood; use train, val or test "
            "(validation/valid are read as val) on every row, or leave the column out"
        )
    return raw.map(SPLIT_ALIASES)
