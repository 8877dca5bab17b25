"""Enumerate the image files of a dataset source: a folder, a tar archive or a CSV.

Folders and archives use the ImageFolder layout, ``[split/]label/*.ext``, optionally under one
wrapper folder (``cifake/train/REAL/...``), unless they hold a manifest (``manifest.csv``, or the
one CSV with ``path`` and ``label`` columns) at their top or inside the wrapper: then that lists the
files, as a CSV given directly does. A CSV lists ``path,label[,split][,source][,generator]`` with
paths relative to the CSV's folder; other columns (provenance such as original size or licence)
are ignored, never used as features. Files that are not taken are returned with a reason, never
dropped. This module reads names only; the image bytes are read by :mod:`deeptrust.data.scan`.
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
FILE_COLUMNS = ["path", "relpath", "label", "split", "source", "generator"]
# Optional CSV columns taken into the manifest; any other column is provenance and ignored.
CSV_OPTIONAL = ("split", "source", "generator")
MANIFEST_NAME = "manifest.csv"
LAYOUT_HELP = (
    "expected [split/]label/*.jpg folders, a .tar/.tar.gz/.tgz of them, or a .csv "
    "(path,label[,split][,source][,generator])"
)


@dataclass(frozen=True, eq=False)
class Source:
    origin: Path  # what the user named, absolute
    kind: str  # "folder", "archive" or "csv"
    root: Path  # the folder that relpaths are relative to
    layout: str  # "labels", "splits", "csv" or "manifest" (a folder or archive with a manifest CSV)
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
    manifest = find_manifest(root)
    if manifest is not None:
        return _from_csv(manifest, origin=origin, root=root, kind=kind)
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
        rows.append((os.path.join(base, rel), rel, label, split, "", ""))
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


def find_manifest(root: Path) -> Path | None:
    """The manifest CSV at the top of ``root`` or inside its single wrapper folders, if any."""
    here = root
    while True:
        found = _manifest_in(here)
        if found is not None:
            return found
        children = [c for c in here.iterdir() if not _hidden(c.name)]
        if len(children) != 1 or not children[0].is_dir():
            return None
        here = children[0]


def _manifest_in(folder: Path) -> Path | None:
    csvs = sorted(
        c for c in folder.iterdir() if c.suffix.lower() == ".csv" and not _hidden(c.name) and c.is_file()
    )
    named = [c for c in csvs if c.name.lower() == MANIFEST_NAME]
    if named:
        return named[0]
    listings = [c for c in csvs if {"path", "label"} <= _header(c)]
    return listings[0] if len(listings) == 1 else None


def _header(csv: Path) -> set[str]:
    try:
        columns = pd.read_csv(csv, nrows=0, dtype=str).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return set()
    return {str(column).strip().lower() for column in columns}


def _read_listing(csv: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"could not read {csv} as CSV: {exc}") from exc
    table.columns = [str(column).strip().lower() for column in table.columns]
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise DataError(
            f"{csv.name} lacks column(s) {', '.join(sorted(missing))}: expected a header "
            f"path,label[,split][,source][,generator]; found {', '.join(table.columns) or 'no columns'}"
        )
    for column in ("path", "label"):
        _require_filled(table[column].str.strip(), column, csv)
    return table


def _from_csv(
    csv: Path, *, origin: Path | None = None, root: Path | None = None, kind: str = "csv"
) -> Source:
    """Files listed by ``csv``; inside a folder or archive (``root``) they must stay inside it."""
    root = root or csv.parent
    table = _read_listing(csv)
    listed = table["path"].str.strip()
    paths = listed.map(lambda rel: os.path.normpath(csv.parent / rel))
    if kind == "csv":
        relpaths, inside = listed, pd.Series(True, index=listed.index)
    else:  # relative to the folder or extraction, as for ImageFolder layouts
        relpaths = paths.map(lambda path: Path(os.path.relpath(path, root)).as_posix())
        inside = ~relpaths.str.startswith("../") & ~listed.map(os.path.isabs)
    suffixes = relpaths.map(lambda rel: os.path.splitext(rel)[1].lower())
    taken = inside & suffixes.isin(IMAGE_EXTENSIONS)
    reasons = ("extension " + suffixes + " is not an image type").where(
        inside, "points outside the dataset folder"
    )
    skipped = pd.DataFrame({"relpath": relpaths[~taken], "reason": reasons[~taken]})
    if kind != "csv":
        skipped = pd.concat([skipped, _unlisted(root, csv, set(relpaths))], ignore_index=True)
    files = pd.DataFrame(
        {
            "path": paths[taken],
            "relpath": relpaths[taken],
            "label": table["label"].str.strip()[taken],
            "split": _csv_splits(table, csv)[taken],
            **{
                column: table[column].str.strip()[taken] if column in table else ""
                for column in CSV_OPTIONAL[1:]
            },
        }
    ).reset_index(drop=True)
    _require_images(files, list(skipped.itertuples(index=False, name=None)), csv)
    layout = "csv" if kind == "csv" else "manifest"
    return Source(origin or csv, kind, root, layout, files, skipped.reset_index(drop=True))


def _unlisted(root: Path, csv: Path, listed: set[str]) -> pd.DataFrame:
    """Files of the folder that its manifest does not list (the manifest itself aside)."""
    own = Path(os.path.relpath(csv, root)).as_posix()
    rows = [(rel, f"not listed in {csv.name}") for rel, _ in _walk(root) if rel not in listed and rel != own]
    return pd.DataFrame(rows, columns=["relpath", "reason"])


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
