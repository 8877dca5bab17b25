"""EXIF fields that say who made or touched an image: Software, Make/Model, UserComment, ImageDescription.

Parsed by Pillow's EXIF reader from the block the container walk found (no pixel decoding). A camera's
Make/Model is ``weak`` evidence of a capture (any tool can write it) and an editor's Software ``weak``
evidence of editing: both are reported, neither moves the verdict. Generator strings and AUTOMATIC1111's
UserComment are read by ``generator.py`` from the same fields.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from deeptrust.evidence.types import Evidence

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

MAX_FIELD_CHARS = 65_536
TAGS = {0x0131: "software", 0x010F: "make", 0x0110: "model", 0x010E: "description", 0x013B: "artist"}
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
EDITORS = re.compile(
    r"\b(photoshop|lightroom|gimp|affinity|snapseed|pixelmator|capture one|darktable|rawtherapee|"
    r"paint\.net|picsart|canva|luminar|facetune|vsco)\b",
    re.IGNORECASE,
)


def decode_user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte charset prefix, then text. AUTOMATIC1111 (via piexif) writes
    ``UNICODE\\0`` and UTF-16 big-endian; some tools write little-endian, so the byte order is guessed
    from where the zero bytes of ASCII characters fall."""
    if isinstance(raw, str):
        return raw[:MAX_FIELD_CHARS]
    prefix, body = raw[:8], raw[8 : 8 + 2 * MAX_FIELD_CHARS]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace")
        little = body[1::2].count(0) > body[0::2].count(0)
        return body.decode("utf-16-le" if little else "utf-16-be", "replace")
    if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", "replace").rstrip("\x00")
    return raw[:MAX_FIELD_CHARS].decode("utf-8", "replace").rstrip("\x00")


def exif_fields(source: Source) -> tuple[dict[str, str], str]:
    """The TAGS and UserComment as text, and a problem ('' when none); cached on the source."""
    cached = source.cache.get("exif")
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    problem = ""
    block = source.metadata.exif
    if block:
        from PIL import Image

        try:
            exif = Image.Exif()
            exif.load(block)
            for tag, name in TAGS.items():
                if isinstance(exif.get(tag), (str, bytes)):
                    fields[name] = _text(exif[tag])
            comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
            if isinstance(comment, (str, bytes)):
                fields["user_comment"] = decode_user_comment(comment)
        except Exception as exc:  # Pillow's EXIF parser raises many types on malformed blocks
            problem = f"EXIF block unreadable: {type(exc).__name__}: {exc}"[:300]
    cached = source.cache["exif"] = ({k: v for k, v in fields.items() if v}, problem)
    return cached


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.replace("\x00", "").strip()[:MAX_FIELD_CHARS]


def read_exif(source: Source, settings: Settings) -> list[Evidence]:
    """Camera make/model (weak: a capture) and editing software (weak: edited)."""
    if not source.metadata.exif:
        return []
    fields, problem = exif_fields(source)
    out = []
    if problem:
        out.append(Evidence("exif", "none", "weak", problem, {"problem": problem}))
    camera = " ".join(v for v in (fields.get("make", ""), fields.get("model", "")) if v)[:200]
    if camera:
        out.append(Evidence("exif", "real", "weak", f"EXIF names a camera: {camera}", {"camera": camera}))
    software = fields.get("software", "")
    if EDITORS.search(software):
        detail = f"EXIF Software names an editor: {software[:200]}"
        out.append(Evidence("exif", "edited", "weak", detail, {"software": software[:200]}))
    return out


def warm_up(settings: Settings) -> None:
    """Pillow's EXIF parser imports its TIFF plug-in on first use (tens of ms): do it before traffic."""
    from PIL import TiffImagePlugin  # noqa: F401
