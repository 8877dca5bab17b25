"""Content-addressed image files for the feedback store: ``<root>/ab/<sha256>.<ext>``, written once.

Writes are atomic (temporary file, fsync, rename), so a reader never sees half an image and two
writers of the same content both end with the same complete file. Only the header is parsed here;
the service has already decoded the image fully before anything reaches the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from deeptrust.feedback.errors import FeedbackError
from deeptrust.imageio import FORMAT_ALIASES, SUPPORTED_FORMATS

# File extensions the dataset importer recognises, one per format.
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


@dataclass(frozen=True)
class ImageFacts:
    sha256: str
    format: str
    width: int
    height: int
    bytes: int

    @property
    def relpath(self) -> str:
        return f"{self.sha256[:2]}/{self.sha256}.{EXTENSIONS[self.format]}"


def read_facts(data: bytes) -> ImageFacts:
    """Hash and header facts of ``data``; :class:`FeedbackError` when it is not a supported image."""
    if not data:
        raise FeedbackError("expected an image (JPEG, PNG, WebP, ...), got 0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format or "", img.size
                fmt = FORMAT_ALIASES.get(fmt, fmt)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise FeedbackError(
            f"expected an image in one of {', '.join(SUPPORTED_FORMATS)}; "
            f"{len(data):,} bytes could not be read as one ({exc})"
        ) from exc
    if fmt not in EXTENSIONS:
        raise FeedbackError(f"expected an image in one of {', '.join(SUPPORTED_FORMATS)}, got {fmt}")
    return ImageFacts(hashlib.sha256(data).hexdigest(), fmt, width, height, len(data))


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
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
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
        with contextlib.suppress(OSError):  # tidy: drop the two-hex folder once empty
            path.parent.rmdir()
        return True
