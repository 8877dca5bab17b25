"""Metadata blocks of an image file, found by walking its container structure once, without decoding.

Readers never search the whole file for byte patterns: a JPEG's segments up to the first scan, a PNG's
chunk list, a WebP's RIFF chunks and a TIFF's first IFD are walked, which costs microseconds on a file
without metadata (``benchmarks/evidence.py``). What is kept is bounded: text chunks beyond
``MAX_TEXT_CHUNKS`` are counted, not kept, and a compressed text chunk inflates to at most
``MAX_TEXT_BYTES`` (zTXt/iTXt decompression bombs stop there). Every oddity is written to ``notes``, which
readers turn into evidence, rather than raised.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAX_TEXT_CHUNKS = 64  # PNG text chunks kept; a file with thousands is noted and the rest skipped
MAX_TEXT_BYTES = 1 << 20  # one text chunk, after inflating: 1 MiB
MAX_XMP_BYTES = 1 << 20  # one XMP packet
MAX_CHUNKS = 100_000  # container entries walked before giving up (a PNG of 20 MiB in 1-byte IDATs)

XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_KEYWORD = "XML:com.adobe.xmp"
TIFF_XMP, TIFF_C2PA = 700, 0xCD41


@dataclass
class Metadata:
    """What a file carries besides its pixels (raw; the readers parse it)."""

    format: str = ""  # JPEG, PNG, WEBP, TIFF or "" (other containers carry nothing we read)
    exif: bytes = b""  # a TIFF-structured EXIF block (JPEG APP1 / PNG eXIf / WebP EXIF / the TIFF itself)
    xmp: list[bytes] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)  # PNG tEXt/zTXt/iTXt keyword → text; JPEG COM
    jumbf: bool = False  # a C2PA manifest store is embedded (JPEG APP11 JUMBF, PNG caBX, WebP C2PA, TIFF)
    notes: list[str] = field(default_factory=list)  # what was malformed, capped or skipped

    @property
    def empty(self) -> bool:
        return not (self.exif or self.xmp or self.text or self.jumbf or self.notes)


def read_metadata(data: bytes) -> Metadata:
    """The metadata blocks of ``data``; never raises on malformed input (it becomes a note)."""
    meta = Metadata()
    try:
        if data[:2] == b"\xff\xd8":
            meta.format = "JPEG"
            _walk_jpeg(data, meta)
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            meta.format = "PNG"
            _walk_png(data, meta)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            meta.format = "WEBP"
            _walk_webp(data, meta)
        elif data[:4] in (b"II*\x00", b"MM\x00*"):
            meta.format = "TIFF"
            _walk_tiff(data, meta)
    except (struct.error, IndexError, ValueError) as exc:  # a structure cut short: keep what was found
        meta.notes.append(f"{meta.format} structure malformed or truncated: {exc}")
    return meta


def _walk_jpeg(data: bytes, meta: Metadata) -> None:
    i, n = 2, len(data)
    for _ in range(MAX_CHUNKS):
        while i < n and data[i] == 0xFF and i + 1 < n and data[i + 1] == 0xFF:
            i += 1  # fill bytes
        if i + 4 > n or data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xDA or marker == 0xD9:  # start of scan / end of image: no metadata past here
            return
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            i += 2
            continue
        length = struct.unpack_from(">H", data, i + 2)[0]
        if length < 2 or i + 2 + length > n:
            meta.notes.append(f"JPEG segment 0x{marker:02X} at byte {i} is truncated")
            return
        if marker in (0xE1, 0xEB, 0xFE):  # APP1 (EXIF, XMP), APP11 (JUMBF), COM: the only ones read
            _jpeg_segment(marker, data[i + 4 : i + 2 + length], meta)
        i += 2 + length


def _jpeg_segment(marker: int, body: bytes, meta: Metadata) -> None:
    if marker == 0xE1 and body.startswith(b"Exif\x00\x00") and not meta.exif:
        meta.exif = body[6:]
    elif marker == 0xE1 and body.startswith(XMP_JPEG):
        meta.xmp.append(body[len(XMP_JPEG) :])
    elif marker == 0xEB and body[:2] == b"JP":  # JPEG XT box (ISO 19566-5): how C2PA embeds JUMBF
        meta.jumbf = True
    elif marker == 0xFE and "comment" not in meta.text:
        meta.text["comment"] = body[:MAX_TEXT_BYTES].decode("utf-8", "replace")


def _walk_png(data: bytes, meta: Metadata) -> None:
    i, n, skipped = 8, len(data), 0
    for _ in range(MAX_CHUNKS):
        if i + 8 > n:
            return
        length, kind = struct.unpack_from(">I4s", data, i)
        if i + 8 + length > n:
            meta.notes.append(f"PNG chunk {kind!r} at byte {i} is truncated")
            return
        # Bodies are sliced (copied) only for the chunks read: never the image data.
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            if len(meta.text) >= MAX_TEXT_CHUNKS:
                skipped += 1
            else:
                _png_text(kind, data[i + 8 : i + 8 + length], meta)
        elif kind == b"eXIf" and not meta.exif:
            meta.exif = data[i + 8 : i + 8 + length]
        elif kind == b"caBX":
            meta.jumbf = True
        elif kind == b"IEND":
            break
        i += 12 + length
    if skipped:
        meta.notes.append(
            f"{skipped + MAX_TEXT_CHUNKS} PNG text chunks: only the first {MAX_TEXT_CHUNKS} read"
        )


def _png_text(kind: bytes, body: bytes, meta: Metadata) -> None:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep:
        meta.notes.append(f"PNG {kind.decode()} chunk without a keyword separator")
        return
    key = keyword[:80].decode("latin-1")
    if len(rest) > MAX_TEXT_BYTES:
        meta.notes.append(
            f"PNG text chunk {key!r} of {len(rest):,} bytes is over the cap of {MAX_TEXT_BYTES:,}"
        )
        return
    if kind == b"tEXt":
        text: str | None = rest.decode("latin-1")
    elif kind == b"zTXt":
        text = _inflate(rest[1:], key, meta, encoding="latin-1")
    else:  # iTXt: flag, method, language\0, translated keyword\0, text
        compressed = rest[:1] == b"\x01"
        _, _, tail = rest[2:].partition(b"\x00")
        _, _, payload = tail.partition(b"\x00")
        text = _inflate(payload, key, meta) if compressed else payload.decode("utf-8", "replace")
    if text is None:
        return
    if key == XMP_KEYWORD:
        meta.xmp.append(text.encode("utf-8"))
    else:
        meta.text.setdefault(key, text)


def _inflate(payload: bytes, key: str, meta: Metadata, *, encoding: str = "utf-8") -> str | None:
    """At most MAX_TEXT_BYTES out of a zlib stream: a bomb is cut off and noted, not expanded."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, MAX_TEXT_BYTES)
    except zlib.error as exc:
        meta.notes.append(f"PNG text chunk {key!r}: corrupt compressed data ({exc})")
        return None
    if inflater.unconsumed_tail:
        meta.notes.append(
            f"PNG text chunk {key!r} inflates beyond {MAX_TEXT_BYTES:,} bytes (a bomb?): cut off"
        )
        return None
    return out.decode(encoding, "replace")


def _walk_webp(data: bytes, meta: Metadata) -> None:
    i, n = 12, len(data)
    for _ in range(MAX_CHUNKS):
        if i + 8 > n:
            return
        fourcc, size = struct.unpack_from("<4sI", data, i)
        if i + 8 + size > n:
            meta.notes.append(f"WebP chunk {fourcc!r} at byte {i} is truncated")
            return
        if fourcc == b"EXIF" and not meta.exif:
            body = data[i + 8 : i + 8 + size]
            meta.exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
        elif fourcc == b"XMP ":
            meta.xmp.append(data[i + 8 : i + 8 + size])
        elif fourcc == b"C2PA":
            meta.jumbf = True
        i += 8 + size + (size & 1)


def _walk_tiff(data: bytes, meta: Metadata) -> None:
    """IFD0 only: XMP (tag 700), a C2PA store (0xCD41) and whether an EXIF IFD exists."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, offset)
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
    for k in range(min(count, 4096)):
        tag, typ, n, value = struct.unpack_from(order + "HHI4s", data, offset + 2 + 12 * k)
        size = sizes.get(typ, 1) * n
        if tag == TIFF_XMP:
            start = struct.unpack(order + "I", value)[0] if size > 4 else offset + 10 + 12 * k
            packet = data[start : start + min(size, MAX_XMP_BYTES)]
            meta.xmp.append(packet)
        elif tag == TIFF_C2PA:
            meta.jumbf = True
    meta.exif = data  # IFD0 holds Software/Make/Model; PIL's Exif parser reads it and the EXIF IFD in place
