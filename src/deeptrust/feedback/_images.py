"""Content-addressed image files for the feedback store: ``<root>/ab/<sha256>.<ext>``, written once.

Every image is fully decoded here, with the pixel cap, by the same decoder the service scores with
(:func:`deeptrust.imageio.open_image_array`): bytes that are not a whole image under the cap are never
stored. Writes are atomic (temporary file, fsync, rename, fsync of the folder), so a reader never sees
half an image and a crash after a write does not lose the file's name. When a file may be deleted is
decided by the store under a database lock, not here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deeptrust.feedback.errors import FeedbackError, FeedbackImageError
from deeptrust.imageio import FORMAT_ALIASES, SUPPORTED_FORMATS, ImageError, open_image_array, sniff_format

# File extensions the dataset importer recognises, one per format.
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}
_STORED_NAME = re.compile(r"^([0-9a-f]{64})\.[a-z]+$")
TMP_GRACE_S = 3600.0  # a writer's temporary file older than this was left by a crash


@dataclass(frozen=True)
class ImageFacts:
    sha256: str  # of the bytes
    pixels_sha256: str  # of the decoded RGB pixels and their size
    format: str
    width: int
    height: int
    bytes: int

    @property
    def relpath(self) -> str:
        return f"{self.sha256[:2]}/{self.sha256}.{EXTENSIONS[self.format]}"


def pixels_digest(pixels: np.ndarray) -> str:
    height, width = pixels.shape[:2]
    digest = hashlib.sha256(f"rgb8:{width}x{height}:".encode())
    digest.update(np.ascontiguousarray(pixels, dtype=np.uint8).data)
    return digest.hexdigest()


def read_facts(data: bytes, *, max_pixels: int = 50_000_000) -> ImageFacts:
    """Decode ``data`` fully (pixel cap ``max_pixels``) and return its facts.

    Raises :class:`FeedbackImageError` (its ``__cause__`` the decoder's ImageError) when it is not a
    supported image, is corrupt or truncated, or has more than ``max_pixels`` pixels.
    """
    if not data:
        raise FeedbackError("expected an image (JPEG, PNG, WebP, ...), got 0 bytes")
    try:
        pixels = open_image_array(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise FeedbackImageError(f"not stored: {exc}", reason=exc.reason) from exc
    fmt = sniff_format(data)
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in EXTENSIONS:  # the decoder accepts only SUPPORTED_FORMATS; this guards a future one
        raise FeedbackImageError(f"expected an image in one of {', '.join(SUPPORTED_FORMATS)}, got {fmt}")
    height, width = pixels.shape[:2]
    return ImageFacts(hashlib.sha256(data).hexdigest(), pixels_digest(pixels), fmt, width, height, len(data))


def _fsync_dir(path: Path) -> None:
    # A rename or unlink is durable only once the folder holding the name is flushed.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageFiles:
    """The image folder of a store. Paths given to it are the relative ``ImageFacts.relpath``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def write(self, facts: ImageFacts, data: bytes) -> Path:
        """Store ``data`` under its hash unless that file exists already; return its path."""
        target = self.path(facts.relpath)
        if target.is_file() and target.stat().st_size == facts.bytes:
            return target
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def delete(self, relpath: str) -> bool:
        path = self.path(relpath)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # The two-hex folder stays (there are at most 256): removing it once empty would race with a
        # writer of another image about to create its temporary file there.
        _fsync_dir(path.parent)
        return True

    def stored(self) -> Iterator[tuple[str, str]]:
        """(sha256, relpath) of every image file under the root (names this class writes only)."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for path in folder.iterdir():
                match = _STORED_NAME.match(path.name)
                if match and match.group(1)[:2] == folder.name:
                    yield match.group(1), f"{folder.name}/{path.name}"

    def remove_stale_temporaries(self, *, older_than_s: float = TMP_GRACE_S) -> int:
        """Delete writers' temporary files left behind by a crash (live writers rename theirs in ms)."""
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.root.glob("*/.tmp-*") if self.root.is_dir() else ():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed
