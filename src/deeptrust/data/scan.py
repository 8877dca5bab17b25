"""Per-file facts for the manifest: content hash, size, format, dimensions, mode, JPEG tables and
every piece of metadata the file carries (:mod:`deeptrust.data._metadata`).

Each file is read once, hashed, and fully decoded so that truncated files are caught here rather
than in the middle of training. Work runs in a process pool because decoding is CPU-bound.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pandas as pd
from PIL import Image, ImageFile, UnidentifiedImageError

from deeptrust._progress import create_progress
from deeptrust.data._jpeg import estimate_quality, hash_tables
from deeptrust.data._metadata import METADATA_COLUMNS, METADATA_DEFAULTS, read_metadata
from deeptrust.data._near import difference_hash
from deeptrust.imageio import FORMAT_ALIASES, SUPPORTED_FORMATS

SCAN_COLUMNS = (
    "sha256",
    "bytes",
    "format",
    "width",
    "height",
    "mode",
    "exif",
    "jpeg_quality",
    "qtable_hash",
    "dhash",  # 256-bit difference hash of the pixels, for near-duplicates (deeptrust.data._near)
    *METADATA_COLUMNS,
    "error",
)
CHUNKSIZE = 256
# Below this many files, starting worker processes costs more than it saves.
SERIAL_BELOW = 512

ScanRow = tuple  # SCAN_COLUMNS order
_NO_METADATA = tuple(METADATA_DEFAULTS.values())


class _Unreadable(Exception):
    """Internal: a file that opens but that deeptrust will not use; ``kind`` goes into the error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@contextmanager
def _strict_decoding() -> Iterator[None]:
    # Another part of the process may have relaxed this; truncation must be an error here.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _read_image(data: bytes, max_pixels: int) -> tuple:
    with warnings.catch_warnings(), _strict_decoding():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height), mode = img.format or "", img.size, img.mode
            fmt = FORMAT_ALIASES.get(fmt, fmt)
            if width * height > max_pixels:
                raise _Unreadable("too_large", f"{width}x{height} is over the cap of {max_pixels:,}")
            if fmt not in SUPPORTED_FORMATS:
                raise _Unreadable("unsupported_format", f"{fmt} is not one of {SUPPORTED_FORMATS}")
            img.load()
            # Read after load(): PNG and WebP may keep EXIF after the pixel data.
            exif = bool(img.info.get("exif"))
            tables = getattr(img, "quantization", None) or {}
            metadata = read_metadata(img, data, fmt)
            dhash = difference_hash(img)
    quality, qhash = estimate_quality(tables), hash_tables(tables)
    return (fmt, width, height, mode, exif, quality, qhash, dhash, *metadata)


def _describe(exc: BaseException, size: int) -> str:
    if isinstance(exc, _Unreadable):
        return f"{exc.kind}: {exc}"
    if isinstance(exc, UnidentifiedImageError):
        return f"not_an_image: cannot identify an image in {size:,} bytes"
    if isinstance(exc, Image.DecompressionBombError):
        return f"too_large: {exc}"
    kind = "truncated" if "truncat" in str(exc).lower() else "corrupt"
    return f"{kind}: {type(exc).__name__}: {exc}"


def scan_file(path: str, max_pixels: int = 50_000_000) -> ScanRow:
    """Facts for one file in ``SCAN_COLUMNS`` order; ``error`` is "" when it decoded fully."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ("", 0, "", 0, 0, "", False, -1, "", "", *_NO_METADATA, f"missing: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        facts = _read_image(data, max_pixels)
    except Exception as exc:  # one odd file must not abort a 100k-file import; it is reported
        return (digest, len(data), "", 0, 0, "", False, -1, "", "", *_NO_METADATA, _describe(exc, len(data)))
    return (digest, len(data), *facts, "")


def scan_files(
    paths: list[str], *, workers: int | None = None, progress: bool = True, max_pixels: int
) -> pd.DataFrame:
    """Scan every path (order kept) with a process pool and a progress bar; one row per path."""
    workers = workers or os.cpu_count() or 1
    work = partial(scan_file, max_pixels=max_pixels)
    rows: list[ScanRow] = []
    with create_progress(enabled=progress) as bar:
        task = bar.add_task("Scanning images", total=len(paths))
        if workers == 1 or len(paths) < SERIAL_BELOW:
            for path in paths:
                rows.append(work(path))
                bar.advance(task)
        else:
            # spawn, not fork: the parent may hold threads (rich, pyarrow) that fork would copy.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                for row in pool.map(work, paths, chunksize=CHUNKSIZE):
                    rows.append(row)
                    bar.advance(task)
    table = pd.DataFrame(rows, columns=list(SCAN_COLUMNS))
    return table.astype(
        {
            "bytes": "int64",
            "width": "int64",
            "height": "int64",
            "exif": "bool",
            **{column: type(value) for column, value in METADATA_DEFAULTS.items()},
        }
    )
