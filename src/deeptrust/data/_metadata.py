"""Every piece of metadata a file carries, as flat per-file facts for the shortcut check.

A detector should see pixels only, yet a dataset's classes often differ in what surrounds the
pixels: cameras write EXIF (Make, Model, Software), editors XMP and ICC profiles, generators PNG
text chunks ("parameters") or JPEG comments, and encoders differ in quantisation tables, chroma
subsampling and progressive scans. :func:`read_metadata` records them all so that
:mod:`deeptrust.data.shortcuts` can say which of them would tell the classes apart. Values are short
strings, flags or counts, never the raw bytes. Non-goal: forensic parsing of malformed metadata —
what Pillow cannot parse is recorded as absent.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image

# Column order of the metadata facts in the scan and the manifest; defaults for files without them.
METADATA_DEFAULTS: dict[str, object] = {
    "exif_tags": 0,  # tags in IFD0 + the Exif and GPS sub-IFDs
    "exif_make": "",
    "exif_model": "",
    "exif_software": "",
    "xmp": False,
    "icc": "",  # the ICC profile's description ("sRGB IEC61966-2.1"), else a hash of it
    "comment": "",  # JPEG COM / GIF comment, shortened
    "app_segments": "",  # JPEG APPn markers in file order with their identifier: "APP0:JFIF APP1:Exif"
    "png_text": "",  # keys of PNG tEXt/zTXt/iTXt chunks: "parameters" (Stable Diffusion web UIs)
    "subsampling": "",  # JPEG chroma subsampling: 4:4:4, 4:2:2, 4:2:0, … or gray; "" for other formats
    "progressive": False,
    "dpi": "",  # declared density (JFIF, pHYs, EXIF resolution as Pillow reads it)
    "info_keys": "",  # every key Pillow found in the header: the catch-all for anything not above
    "trailer_bytes": 0,  # bytes after the JPEG end-of-image or PNG IEND marker
}
METADATA_COLUMNS = tuple(METADATA_DEFAULTS)
_TEXT_LIMIT = 40
_EXIF_NAMES = {"exif_make": 0x010F, "exif_model": 0x0110, "exif_software": 0x0131}
_EXIF_SUB_IFDS = (0x8769, 0x8825)  # Exif, GPS
_XMP_ID = b"http://ns.adobe.com/xap/1.0/"
# (horizontal, vertical) sampling factors of the luma component when both chroma ones are 1x1.
_SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def read_metadata(img: Image.Image, data: bytes, fmt: str) -> tuple:
    """Facts in ``METADATA_COLUMNS`` order for an opened (and loaded) image and its file bytes."""
    exif_count, exif_text = _exif(img)
    applist = getattr(img, "applist", None) or []
    return (
        exif_count,
        exif_text["exif_make"],
        exif_text["exif_model"],
        exif_text["exif_software"],
        bool(img.info.get("xmp")) or any(body.startswith(_XMP_ID) for _, body in applist),
        _icc(img.info.get("icc_profile")),
        _short(img.info.get("comment", "")),
        " ".join(marker if marker == "COM" else f"{marker}:{_identifier(body)}" for marker, body in applist),
        " ".join(sorted(getattr(img, "text", None) or {})) if fmt == "PNG" else "",
        _subsampling(img) if fmt == "JPEG" else "",
        bool(img.info.get("progressive") or img.info.get("progression")),
        _dpi(img.info.get("dpi")),
        " ".join(sorted(str(key) for key in img.info)),
        _trailer(data, fmt),
    )


def _short(value: object) -> str:
    """Printable text of a metadata value, cut to a length that keeps the report readable."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip(" \x00")
    return text[:_TEXT_LIMIT]


def _exif(img: Image.Image) -> tuple[int, dict[str, str]]:
    text = dict.fromkeys(_EXIF_NAMES, "")
    try:
        exif = img.getexif()
        count = len(exif) + sum(len(exif.get_ifd(tag)) for tag in _EXIF_SUB_IFDS)
    except Exception:  # malformed EXIF: Pillow raises many types; the file still decodes
        return 0, text
    for column, tag in _EXIF_NAMES.items():
        text[column] = _short(exif.get(tag, ""))
    return count, text


def _icc(profile: bytes | None) -> str:
    if not profile:
        return ""
    try:
        from PIL import ImageCms

        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile)))
    except Exception:  # no littlecms, or a profile it cannot parse: still tell profiles apart
        description = ""
    return _short(description) or f"icc:{hashlib.sha256(profile).hexdigest()[:8]}"


def _identifier(body: bytes) -> str:
    """The ASCII identifier an APPn segment starts with (JFIF, Exif, ICC_PROFILE, Adobe, …)."""
    if body.startswith(_XMP_ID):
        return "XMP"
    head = body[:32].split(b"\x00", 1)[0]
    text = "".join(chr(b) for b in head if 0x21 <= b < 0x7F)
    return text[:20] or "?"


def _subsampling(img: Image.Image) -> str:
    layers = getattr(img, "layer", None) or []
    if len(layers) == 1:
        return "gray"
    if len(layers) < 3 or any(tuple(layer[1:3]) != (1, 1) for layer in layers[1:]):
        return "other"
    factors = tuple(layers[0][1:3])
    return _SUBSAMPLING.get(factors, f"{factors[0]}x{factors[1]}")


def _dpi(dpi: object) -> str:
    if not isinstance(dpi, tuple) or len(dpi) != 2:
        return ""
    try:
        return f"{round(float(dpi[0]))}x{round(float(dpi[1]))}"
    except (TypeError, ValueError):
        return ""


def _trailer(data: bytes, fmt: str) -> int:
    marker = _END_MARKERS.get(fmt)
    if marker is None:
        return 0
    end = data.rfind(marker)
    return 0 if end < 0 else len(data) - end - len(marker)
