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
