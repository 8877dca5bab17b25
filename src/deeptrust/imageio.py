"""Decode untrusted image bytes into RGB pixels, with clear errors for every way that can fail.

Used by training, evaluation and inference alike so that an image is read the same way everywhere:
EXIF orientation applied, palette/alpha/CMYK/greyscale/16-bit converted to 8-bit RGB, animated
images reduced to their first frame, and a pixel cap against decompression bombs.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# libjpeg-turbo without Pillow's per-image overhead: same pixels (ISLOW DCT, fancy upsampling), ~25 % faster
try:
    import simplejpeg
except ImportError:  # optional: `pip install 'deeptrust[serve]'` brings it
    simplejpeg = None

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Pillow's names for variants of a supported format: MPO is a JPEG with extra pictures appended (phones
# write it for depth and HDR gain maps); its first picture is a plain JPEG.
FORMAT_ALIASES = {"MPO": "JPEG"}
# File signatures: a supported format's start that Pillow cannot parse is corrupt, not unsupported.
_SIGNATURES = (
    (b"\xff\xd8", "JPEG"),  # SOI
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
# What Pillow's decoders raise on malformed input besides OSError (TIFF and EXIF parsing especially).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error)


class ImageError(ValueError):
    """The input is not an image deeptrust can read. ``reason`` is a short machine-readable code."""

    reason = "invalid_image"


class UnsupportedImageError(ImageError):
    reason = "unsupported_format"


class CorruptImageError(ImageError):
    reason = "corrupt_image"


class ImageTooLargeError(ImageError):
    reason = "too_many_pixels"


def open_image(source: str | Path | bytes | Image.Image, *, max_pixels: int = 50_000_000) -> Image.Image:
    """Open, fully decode and normalise an image to 8-bit RGB.

    Raises a subclass of :class:`ImageError` naming what was wrong, never a bare PIL exception.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source)
    decoded = _open(source, max_pixels)
    return decoded if isinstance(decoded, Image.Image) else Image.fromarray(decoded, "RGB")


def open_image_array(source: str | Path | bytes, *, max_pixels: int = 50_000_000) -> np.ndarray:
    """As :func:`open_image`, as an (H, W, 3) uint8 array: upright JPEGs skip two full-image copies."""
    decoded = _open(source, max_pixels)
    return decoded if isinstance(decoded, np.ndarray) else np.asarray(decoded, dtype=np.uint8)


def _open(source: str | Path | bytes, max_pixels: int) -> Image.Image | np.ndarray:
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img, max_pixels)
            if FORMAT_ALIASES.get(img.format or "", img.format) not in SUPPORTED_FORMATS:
                raise UnsupportedImageError(
                    f"expected an image in one of {', '.join(SUPPORTED_FORMATS)}, got {img.format}"
                )
            fast = _decode_plain_jpeg(img, data)
            if fast is not None:
                return fast
            img.load()
            return to_rgb(img)  # inside the try: EXIF parsing and later frames can fail too
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image exceeds the pixel cap of {max_pixels:,}: {exc}") from exc
    except UnidentifiedImageError as exc:
        sniffed = _sniff(data)
        if sniffed:  # the signature of a supported format, but Pillow could not parse the header
            raise CorruptImageError(f"corrupt or truncated {sniffed} header ({len(data)} bytes)") from exc
        raise UnsupportedImageError(
            f"not a recognised image (expected {', '.join(SUPPORTED_FORMATS)}); {len(data)} bytes received"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(f"corrupt or truncated image: {exc}") from exc


def sniff_format(data: bytes) -> str:
    """The container format Pillow reads from the header alone ('' when it cannot); the decoded RGB
    image no longer knows it, and the service and the scanner report it."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return str(img.format or "")
    except Exception:  # any header Pillow cannot parse just has no known format
        return ""


def _sniff(data: bytes) -> str:
    """The supported format whose file signature ``data`` starts with, or ''."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    return ""


def _decode_plain_jpeg(img: Image.Image, data: bytes) -> np.ndarray | None:
    """Decode an upright YCbCr/grey JPEG with simplejpeg; None when Pillow must (EXIF rotation, CMYK…)."""
    if simplejpeg is None or img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    if img.getexif().get(0x0112, 1) != 1:  # orientation: let exif_transpose handle it
        return None
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ValueError:  # truncated or odd streams: Pillow gives the precise error (or copes)
        return None
    if pixels.shape[:2] != (img.height, img.width):
        return None
    return pixels


def _check_size(img: Image.Image, max_pixels: int) -> None:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise CorruptImageError(f"image has an invalid size {w}x{h}")
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"image is {w}x{h} = {w * h:,} pixels, over the cap of {max_pixels:,} "
            "(raise DEEPTRUST_MAX_IMAGE_PIXELS to accept it)"
        )


def to_rgb(img: Image.Image) -> Image.Image:
    """First frame, EXIF orientation applied, 8-bit RGB; transparency composited on white."""
    if img.tell() != 0:  # not n_frames: counting the pages of a TIFF walks every one (seconds for 10⁵)
        img.seek(0)
    with contextlib.suppress(*_DECODE_ERRORS):  # unreadable EXIF: keep the stored pixels, as Pillow does
        img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img
