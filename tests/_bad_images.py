"""Images that look fine from their header but must never be stored: shared by the decode-path tests.

``bomb_png``: a real 12000×12000 PNG (144 MP, over the 50 MP default cap; under Pillow's own
``DecompressionBombError`` limit, so a header-only check lets it through). ``html_png``: a valid PNG
signature and header whose pixel data is an HTML page, which a browser might render if sniffed.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image

HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


@functools.cache
def bomb_png(side: int = 12_000) -> bytes:
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")  # 1 bit per pixel: ~40 KiB compressed
    return out.getvalue()


def html_png(width: int = 64, height: int = 64) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", HTML) + _chunk(b"IEND", b"")


# -- hostile metadata (issue 16): valid pictures whose metadata attacks the evidence readers --------------
# Each decodes to a 32×24 picture; the service must answer 200 with an evidence entry, quickly, offline.
METADATA_SIZE = (32, 24)
XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"


def _picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", METADATA_SIZE, (90, 140, 200)).save(out, fmt)
    return out.getvalue()


def _png_with(*chunks: bytes) -> bytes:
    png = _picture("PNG")
    return png[:33] + b"".join(chunks) + png[33:]  # after the 8-byte signature and the 25-byte IHDR


def _jpeg_with(marker: int, payload: bytes) -> bytes:
    jpeg = _picture("JPEG")
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@functools.cache
def ztxt_bomb_png() -> bytes:
    """A zTXt chunk of 64 MiB of zeros in 64 KiB (Pillow refuses it: 400; the readers stop at 1 MiB)."""
    return _png_with(_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"\x00" * (64 << 20), 9)))


@functools.cache
def itxt_bomb_png() -> bytes:
    bomb = zlib.compress(b"A" * (64 << 20), 9)
    return _png_with(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb))


def many_text_chunks_png(n: int = 5000) -> bytes:
    return _png_with(*(_chunk(b"tEXt", b"Comment%d\x00%d" % (i, i)) for i in range(n)))


def billion_laughs_jpeg() -> bytes:
    lol = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 9)
    )
    xmp = (
        b'<?xml version="1.0"?><!DOCTYPE x ['
        + lol
        + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&l8;</x:xmpmeta>'
    )
    return _jpeg_with(0xE1, XMP_NS + xmp)


def deep_xmp_webp(depth: int = 60_000) -> bytes:
    """XMP nested ``depth`` elements deep (recursive parsers overflow their stack on it)."""
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"<a>" * depth + b"</a>" * depth + b"</x:xmpmeta>"
    webp = _picture("WEBP")
    chunk = b"XMP " + struct.pack("<I", len(xmp)) + xmp + b"\x00" * (len(xmp) & 1)
    body = webp[12:] + chunk
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def truncated_manifest_jpeg() -> bytes:
    """A C2PA JUMBF box (JPEG XT APP11) whose box header claims far more than the segment holds."""
    box = (
        struct.pack(">I", 100_000)
        + b"jumb"
        + struct.pack(">I", 40)
        + b"jumd"
        + b"c2pa\x00\x11\x00\x10"
        + b"\x00" * 12
    )
    return _jpeg_with(0xEB, b"JP\x02\x11\x00\x00\x00\x01" + box)


def remote_manifest_jpeg(url: str = "https://c2pa.example.invalid/manifests/abc.c2pa") -> bytes:
    """No embedded store, only XMP that says the manifest is kept at ``url``: it must not be fetched."""
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'dcterms:provenance="{url}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    return _jpeg_with(0xE1, XMP_NS + xmp)


def hostile_metadata() -> dict[str, bytes]:
    """Every case above by name (the bad-input corpus and the evidence tests use them all)."""
    return {
        "ztxt-bomb": ztxt_bomb_png(),
        "itxt-bomb": itxt_bomb_png(),
        "5000-text-chunks": many_text_chunks_png(),
        "xmp-billion-laughs": billion_laughs_jpeg(),
        "xmp-60000-deep": deep_xmp_webp(),
        "c2pa-truncated-manifest": truncated_manifest_jpeg(),
        "c2pa-remote-manifest": remote_manifest_jpeg(),
    }
