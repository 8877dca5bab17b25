"""A corpus of crafted bad and odd uploads, each with the status the service must answer.

Everything is generated in code (Pillow plus hand-made headers), so no binary files are committed.
``corpus()`` builds the same cases on every run (cached: built once per process).

Categories (the prefix of each case id):
``odd-``: unusual but valid images → 200 with the decoded (upright) width and height;
``unsupported-``: not an image, or a format outside JPEG/PNG/WebP/GIF/BMP/TIFF, or a wrong content type → 415;
``corrupt-``: truncated, flipped, garbled or empty files → 400;
``bomb-``: tiny files claiming huge dimensions → 422 (the settings' pixel cap, or Pillow's own bomb guard);
``too-large-``: bodies over the byte cap → 413.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageCms

from tests._bad_images import METADATA_SIZE, hostile_metadata

# The settings the corpus expects (pass them to make_settings / as DEEPTRUST_* variables).
MAX_IMAGE_PIXELS = 4_000_000
MAX_BODY_BYTES = 1 << 20
SETTINGS = {"max_image_pixels": MAX_IMAGE_PIXELS, "max_body_bytes": MAX_BODY_BYTES}
ENV = {"DEEPTRUST_MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS), "DEEPTRUST_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    status: int
    # How it is sent: a multipart 'file' field (with this part content type), or the raw request body
    # with this request content type ("" sends no content type at all).
    content_type: str = "application/octet-stream"
    raw: bool = False
    size: tuple[int, int] | None = None  # (width, height) the service must report, for 200s
    evidence: str = ""  # the kind of evidence entry a 200 must carry (hostile metadata, issue 16)

    def request(self) -> dict:
        """Keyword arguments for httpx / TestClient ``post``."""
        if self.raw:
            headers = {"content-type": self.content_type} if self.content_type else {}
            return {"content": self.data, "headers": headers}
        return {"files": {"file": (f"{self.id}.bin", self.data, self.content_type)}}


# -- encoders and helpers -------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise(width: int, height: int, mode: str = "RGB", *, seed: int = 0) -> Image.Image:
    """A noisy RGB image converted to ``mode`` (noise so that truncation always cuts pixel data)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int, *, colour_type: int = 2) -> bytes:
    """A well-formed PNG (valid CRCs) whose IHDR claims ``width``×``height`` but holds almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_segment(data: bytes, marker: int) -> int:
    """Offset of the first ``FF marker`` segment in a JPEG."""
    return data.index(bytes([0xFF, marker]))


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def flip(data: bytes, *offsets: int) -> bytes:
    out = bytearray(data)
    for i in offsets:
        out[i] ^= 0xFF
    return bytes(out)


def garbage(n: int, *, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 frame header is patched to claim ``width``×``height``."""
    data = encode(noise(16, 16), "JPEG")
    sof = jpeg_segment(data, 0xC0)
    return patch(data, sof + 5, struct.pack(">HH", height, width))


def gif_with_screen(width: int, height: int) -> bytes:
    """A 1×1 GIF frame on a logical screen of ``width``×``height`` (what Pillow reports as the size)."""
    return patch(encode(Image.new("P", (1, 1)), "GIF"), 6, struct.pack("<HH", width, height))


def webp_lossless_with_size(width: int, height: int) -> bytes:
    """A 1×1 lossless WebP whose VP8L bitstream header is patched to claim ``width``×``height``."""
    data = encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True)
    at = data.index(b"VP8L") + 8  # chunk tag, chunk size, then the 0x2f signature byte
    assert data[at] == 0x2F
    (bits,) = struct.unpack("<I", data[at + 1 : at + 5])
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    return patch(data, at + 1, struct.pack("<I", bits))


def bmp_with_size(width: int, height: int) -> bytes:
    return patch(encode(Image.new("RGB", (1, 1)), "BMP"), 18, struct.pack("<ii", width, height))


def tiff_header_only(width: int, height: int) -> bytes:
    """A little-endian greyscale TIFF claiming ``width``×``height`` with a single byte of pixel data."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 1),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00"


def tiff_pages(n: int, *, broken_after_first: bool = False) -> bytes:
    """A little-endian TIFF of ``n`` 1×1 greyscale pages (~100 bytes each), made by hand in milliseconds.

    ``broken_after_first``: every page but the first lacks its ImageWidth tag.
    """
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(n):
        start = len(out)
        data_at = start + 2 + 8 * 12 + 4
        next_ifd = data_at + 1 if page < n - 1 else 0
        width_tag = 999 if broken_after_first and page else 256
        entries = [(width_tag, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, data_at), (278, 1), (279, 1)]
        out += struct.pack("<H", len(entries))
        for tag, value in entries:
            out += struct.pack("<HHII", tag, 4, 1, value)  # all LONG: Pillow accepts that for every tag here
        out += struct.pack("<I", next_ifd) + bytes([page % 256])
    return bytes(out)


def psd(width: int = 4, height: int = 4) -> bytes:
    """A minimal uncompressed 8-bit RGB Photoshop file."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layer and mask info
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


def with_corrupt_exif(data: bytes, container_tag: bytes) -> bytes:
    """Break the TIFF header inside the EXIF block that follows ``container_tag``."""
    tiff = data.index(b"MM\x00*", data.index(container_tag))  # Pillow writes big-endian EXIF
    return patch(data, tiff, b"MM4*")


def bad_huffman_table(data: bytes) -> bytes:
    """Every bit-length count of the first DHT set to 255: more than 256 codes (libjpeg: bogus table)."""
    dht = jpeg_segment(data, 0xC4)
    return patch(data, dht + 5, b"\xff" * 16)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# -- the corpus -----------------------------------------------------------------------------------------


@cache
def corpus() -> tuple[Case, ...]:
    cases: list[Case] = []

    def add(id_: str, data: bytes, status: int, **kw) -> None:
        cases.append(Case(id_, data, status, **kw))

    rgb = noise(64, 48)
    jpeg = encode(rgb, "JPEG", quality=90)
    png = encode(rgb, "PNG")
    webp = encode(rgb, "WEBP", quality=80)
    gif = encode(rgb.convert("P"), "GIF")
    tiff = encode(rgb, "TIFF")
    bmp = encode(rgb, "BMP")
    size = (64, 48)

    # -- odd but valid: 200, with the upright size --
    add(
        "odd-jpeg-exif-rotate-90", encode(noise(30, 10), "JPEG", exif=with_orientation(6)), 200, size=(10, 30)
    )
    add(
        "odd-jpeg-exif-rotate-270",
        encode(noise(30, 10), "JPEG", exif=with_orientation(8)),
        200,
        size=(10, 30),
    )
    add(
        "odd-jpeg-exif-rotate-180",
        encode(noise(30, 10), "JPEG", exif=with_orientation(3)),
        200,
        size=(30, 10),
    )
    add("odd-png-exif-rotate-90", encode(noise(30, 10), "PNG", exif=with_orientation(6)), 200, size=(10, 30))
    add(
        "odd-webp-exif-rotate-90", encode(noise(30, 10), "WEBP", exif=with_orientation(6)), 200, size=(10, 30)
    )
    add("odd-jpeg-cmyk", encode(noise(40, 20, "CMYK"), "JPEG"), 200, size=(40, 20))
    add("odd-jpeg-greyscale", encode(noise(40, 20, "L"), "JPEG"), 200, size=(40, 20))
    add("odd-jpeg-progressive", encode(rgb, "JPEG", progressive=True), 200, size=size)
    add("odd-jpeg-444-with-icc", encode(rgb, "JPEG", subsampling=0, icc_profile=srgb_icc()), 200, size=size)
    add("odd-jpeg-trailing-bytes-after-eoi", jpeg + garbage(300), 200, size=size)
    # libjpeg (like browsers) decodes a scan of garbage, warning only: the header is valid, the pixels noise.
    sos = jpeg_segment(jpeg, 0xDA)
    add(
        "odd-jpeg-garbage-scan-data",
        jpeg[: sos + 14] + garbage(3000).replace(b"\xff", b"\x00"),
        200,
        size=size,
    )
    # Unreadable EXIF is ignored (the pixels are fine): no rotation, the stored size.
    exif6 = with_orientation(6)
    add("odd-jpeg-corrupt-exif", with_corrupt_exif(encode(rgb, "JPEG", exif=exif6), b"Exif"), 200, size=size)
    add("odd-webp-corrupt-exif", with_corrupt_exif(encode(rgb, "WEBP", exif=exif6), b"EXIF"), 200, size=size)
    mpo = encode(rgb, "MPO", save_all=True, append_images=[rgb.transpose(Image.Transpose.ROTATE_90)])
    add("odd-jpeg-mpo-two-pictures", mpo, 200, size=size)
    palette = noise(40, 20, "P")
    add("odd-png-palette-transparency", encode(palette, "PNG", transparency=3), 200, size=(40, 20))
    add("odd-png-rgba", encode(noise(40, 20, "RGBA"), "PNG"), 200, size=(40, 20))
    add("odd-png-la", encode(noise(40, 20, "LA"), "PNG"), 200, size=(40, 20))
    add("odd-png-greyscale", encode(noise(40, 20, "L"), "PNG"), 200, size=(40, 20))
    grey16 = Image.fromarray((np.arange(40 * 20, dtype=np.uint16).reshape(20, 40) * 80).astype(np.uint16))
    add("odd-png-16-bit-greyscale", encode(grey16, "PNG"), 200, size=(40, 20))
    add("odd-png-1-bit", encode(noise(40, 20, "1"), "PNG"), 200, size=(40, 20))
    apng = encode(rgb, "PNG", save_all=True, append_images=[noise(64, 48, seed=2)], duration=100)
    add("odd-png-animated-apng", apng, 200, size=size)
    add("odd-png-missing-iend", png[:-12], 200, size=size)
    add("odd-gif-static", gif, 200, size=size)
    frames = [noise(64, 48, "P", seed=s) for s in (3, 4, 5)]
    add("odd-gif-animated", encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), 200, size=size)
    add("odd-gif-transparency", encode(palette, "GIF", transparency=0), 200, size=(40, 20))
    add("odd-webp-lossy", webp, 200, size=size)
    add("odd-webp-lossless", encode(rgb, "WEBP", lossless=True), 200, size=size)
    add("odd-webp-alpha", encode(noise(40, 20, "RGBA"), "WEBP"), 200, size=(40, 20))
    webp_frames = [noise(40, 20, seed=s) for s in (6, 7)]
    animated_webp = encode(webp_frames[0], "WEBP", save_all=True, append_images=webp_frames[1:], duration=50)
    add("odd-webp-animated", animated_webp, 200, size=(40, 20))
    add("odd-bmp-24-bit", bmp, 200, size=size)
    add("odd-bmp-1-bit", encode(noise(40, 20, "1"), "BMP"), 200, size=(40, 20))
    add("odd-bmp-palette", encode(palette, "BMP"), 200, size=(40, 20))
    add("odd-tiff-uncompressed", tiff, 200, size=size)
    add("odd-tiff-lzw", encode(rgb, "TIFF", compression="tiff_lzw"), 200, size=size)
    add("odd-tiff-jpeg-compressed", encode(rgb, "TIFF", compression="jpeg"), 200, size=size)
    add("odd-tiff-1-bit-group4", encode(noise(40, 20, "1"), "TIFF", compression="group4"), 200, size=(40, 20))
    add("odd-tiff-16-bit-greyscale", encode(grey16, "TIFF"), 200, size=(40, 20))
    add("odd-tiff-float", encode(Image.new("F", (40, 20), 0.5), "TIFF"), 200, size=(40, 20))
    add("odd-tiff-cmyk", encode(noise(40, 20, "CMYK"), "TIFF"), 200, size=(40, 20))
    add("odd-tiff-lab", encode(noise(40, 20, "LAB"), "TIFF"), 200, size=(40, 20))
    add(
        "odd-tiff-multipage",
        encode(rgb, "TIFF", save_all=True, append_images=[noise(20, 10)]),
        200,
        size=size,
    )
    add("odd-tiff-9000-pages", tiff_pages(9000), 200, size=(1, 1))
    add("odd-tiff-broken-second-page", tiff_pages(3, broken_after_first=True), 200, size=(1, 1))
    add("odd-jpeg-1x1", encode(noise(1, 1), "JPEG"), 200, size=(1, 1))
    add("odd-png-1x1", encode(noise(1, 1), "PNG"), 200, size=(1, 1))
    add("odd-gif-1x1", encode(noise(1, 1, "P"), "GIF"), 200, size=(1, 1))
    add("odd-webp-1x1", encode(noise(1, 1), "WEBP"), 200, size=(1, 1))
    add("odd-png-10000x1", encode(noise(10000, 1), "PNG"), 200, size=(10000, 1))
    add("odd-png-1x10000", encode(noise(1, 10000), "PNG"), 200, size=(1, 10000))
    add("odd-raw-jpeg", jpeg, 200, raw=True, content_type="image/jpeg", size=size)
    add("odd-raw-jpeg-labelled-png", jpeg, 200, raw=True, content_type="image/png", size=size)
    add("odd-raw-png-octet-stream", png, 200, raw=True, content_type="application/octet-stream", size=size)
    add(
        "odd-raw-webp-with-charset", webp, 200, raw=True, content_type="image/webp; charset=binary", size=size
    )
    add("odd-part-labelled-text-plain", jpeg, 200, content_type="text/plain", size=size)

    # -- not an image, or not one we take: 415 --
    add("unsupported-pdf", encode(rgb, "PDF"), 415, content_type="application/pdf")
    add("unsupported-html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", 415)
    add("unsupported-plain-text", b"hello, this is not an image\n" * 10, 415, content_type="text/plain")
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    add("unsupported-svg", svg, 415, content_type="image/svg+xml")
    add("unsupported-json", b'{"image": "not really"}', 415, content_type="application/json")
    add("unsupported-ico", encode(noise(32, 32), "ICO"), 415, content_type="image/x-icon")
    add("unsupported-psd", psd(), 415, content_type="image/vnd.adobe.photoshop")
    add("unsupported-jpeg2000", encode(rgb, "JPEG2000"), 415, content_type="image/jp2")
    add("unsupported-avif", encode(rgb, "AVIF"), 415, content_type="image/avif")
    add("unsupported-tga", encode(rgb, "TGA"), 415)
    add("unsupported-pcx", encode(rgb, "PCX"), 415)
    add("unsupported-ppm", encode(rgb, "PPM"), 415)
    add("unsupported-qoi", encode(rgb, "QOI"), 415)
    add("unsupported-eps", encode(rgb, "EPS"), 415, content_type="application/postscript")
    add("unsupported-xbm", encode(noise(8, 8, "1"), "XBM"), 415)
    heic = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic" + bytes(64)
    add("unsupported-heic", heic, 415, content_type="image/heic")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("image.jpg", jpeg)
    add("unsupported-zip-holding-a-jpeg", zipped.getvalue(), 415, content_type="application/zip")
    add("unsupported-gzipped-png", gzip.compress(png, mtime=0), 415, content_type="application/gzip")
    add("unsupported-windows-exe", b"MZ\x90\x00" + bytes(200), 415)
    add("unsupported-all-zero-bytes", bytes(4096), 415)
    add("unsupported-random-bytes", garbage(4096, seed=7), 415)
    add("unsupported-raw-jpeg-as-text-plain", jpeg, 415, raw=True, content_type="text/plain")
    add("unsupported-raw-jpeg-as-json", jpeg, 415, raw=True, content_type="application/json")
    add("unsupported-raw-jpeg-no-content-type", jpeg, 415, raw=True, content_type="")
    add(
        "unsupported-raw-form-urlencoded",
        b"file=abc",
        415,
        raw=True,
        content_type="application/x-www-form-urlencoded",
    )
    add("unsupported-raw-svg", svg, 415, raw=True, content_type="image/svg+xml")
    add("unsupported-raw-pdf-as-image", encode(rgb, "PDF"), 415, raw=True, content_type="image/jpeg")

    # -- corrupt, truncated or empty: 400 --
    for cut in (2, 20, 160, len(jpeg) // 2, len(jpeg) - 2):
        add(f"corrupt-jpeg-truncated-at-{cut}", jpeg[:cut], 400)
    for cut in (8, 30, 100, len(png) // 2):
        add(f"corrupt-png-truncated-at-{cut}", png[:cut], 400)
    for cut in (12, 30, len(webp) // 2, len(webp) - 1):
        add(f"corrupt-webp-truncated-at-{cut}", webp[:cut], 400)
    for cut in (6, 13, 40, len(gif) // 2):
        add(f"corrupt-gif-truncated-at-{cut}", gif[:cut], 400)
    add(f"corrupt-tiff-truncated-at-{len(tiff) // 2}", tiff[: len(tiff) // 2], 400)
    add(f"corrupt-bmp-truncated-at-{len(bmp) // 2}", bmp[: len(bmp) // 2], 400)
    add("corrupt-jpeg-soi-eoi-only", b"\xff\xd8\xff\xd9", 400)
    add("corrupt-jpeg-bad-huffman-table", bad_huffman_table(jpeg), 400)
    sos = jpeg_segment(jpeg, 0xDA)
    add("corrupt-jpeg-garbage-after-app0", jpeg[:20] + garbage(3000), 400)
    big = encode(noise(256, 256), "JPEG")  # its scan needs more than the 3000 bytes of garbage
    big_sos = jpeg_segment(big, 0xDA)
    add(
        "corrupt-jpeg-garbage-scan-too-short",
        big[: big_sos + 14] + garbage(3000).replace(b"\xff", b"\x00"),
        400,
    )
    add("corrupt-jpeg-sof-zero-components", patch(jpeg, jpeg_segment(jpeg, 0xC0) + 9, b"\x00"), 400)
    add("corrupt-jpeg-zero-width", jpeg_with_size(0, 16), 400)
    add("corrupt-png-flipped-ihdr", flip(png, 16, 17, 18), 400)
    add("corrupt-png-flipped-idat", flip(png, *range(len(png) // 2, len(png) // 2 + 8)), 400)
    add("corrupt-png-garbage-after-ihdr", png[:33] + garbage(2000), 400)
    add("corrupt-png-zero-width", png_header_only(0, 10), 400)
    add("corrupt-png-signature-only", b"\x89PNG\r\n\x1a\n", 400)
    add("corrupt-webp-garbage-after-header", webp[:30] + garbage(2000), 400)
    gif_garbage = garbage(2000).translate(bytes.maketrans(b",!;", b"\x00\x00\x00"))  # no block starts
    add("corrupt-gif-garbage-after-header", gif[:13] + gif_garbage, 400)
    add("bomb-gif-garbage-frame-claims-huge-size", gif[: 13 + 768] + garbage(3000), 422)
    add("corrupt-bmp-bogus-header-size", patch(bmp, 14, struct.pack("<I", 7)), 400)
    add("corrupt-tiff-bogus-ifd-offset", patch(tiff, 4, struct.pack("<I", 0x7FFFFFF0)), 400)
    add("corrupt-tiff-no-dimensions", patch(tiff_header_only(10, 10), 10, struct.pack("<H", 999)), 400)
    add("corrupt-empty-file", b"", 400)
    add("corrupt-raw-empty-body", b"", 400, raw=True, content_type="image/jpeg")
    add("corrupt-raw-truncated-png", png[:100], 400, raw=True, content_type="image/png")

    # -- decompression bombs: 422 --
    add("bomb-png-claims-100000x100000", png_header_only(100_000, 100_000), 422)
    add("bomb-png-2100x2000-solid", encode(Image.new("L", (2100, 2000), 7), "PNG", optimize=True), 422)
    add("bomb-jpeg-claims-65000x65000", jpeg_with_size(65_000, 65_000), 422)
    add("bomb-jpeg-claims-2100x2000", jpeg_with_size(2100, 2000), 422)
    add("bomb-gif-screen-65535x65535", gif_with_screen(65_535, 65_535), 422)
    add("bomb-gif-screen-2100x2000", gif_with_screen(2100, 2000), 422)
    add("bomb-webp-claims-16384x16384", webp_lossless_with_size(16_384, 16_384), 422)
    add("bomb-webp-claims-2100x2000", webp_lossless_with_size(2100, 2000), 422)
    add("bomb-bmp-claims-30000x30000", bmp_with_size(30_000, 30_000), 422)
    add("bomb-tiff-claims-100000x100000", tiff_header_only(100_000, 100_000), 422)
    add(
        "bomb-raw-png-claims-100000x100000",
        png_header_only(100_000, 100_000),
        422,
        raw=True,
        content_type="image/png",
    )

    # -- hostile metadata (tests/_bad_images.py): an evidence entry, never a 5xx, hang or network call.
    # Pillow itself refuses text chunks that inflate over 1 MB, so the two bombs are corrupt images (400).
    evidence_kinds = {"xmp": "iptc", "c2pa": "c2pa"}
    for name, data in hostile_metadata().items():
        if name.endswith("-bomb"):
            add(f"corrupt-metadata-{name}", data, 400)
        else:
            kind = evidence_kinds.get(name.split("-")[0], "metadata")
            add(f"odd-metadata-{name}", data, 200, size=METADATA_SIZE, evidence=kind)

    # -- over the byte cap: 413 --
    add("too-large-multipart", garbage(MAX_BODY_BYTES + 1), 413)
    add("too-large-raw", b"\xff\xd8\xff" + garbage(MAX_BODY_BYTES), 413, raw=True, content_type="image/jpeg")

    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return tuple(cases)


def good_jpeg(size: int = 48, *, seed: int = 0) -> bytes:
    return encode(noise(size, size, seed=seed), "JPEG", quality=90)
