"""Images with metadata, built in code: XMP in every format, PNG text chunks, EXIF, C2PA-signed files.

C2PA files are signed with the SDK's test certificates from ``../shared/fixtures/provenance/c2pa/certs``;
``TRUST_BUNDLE`` is the anchor bundle that makes them Trusted.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

PROVENANCE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "provenance"
C2PA_DIR = PROVENANCE / "c2pa"
CERTS = C2PA_DIR / "certs"
TRUST_BUNDLE = CERTS / "test_cert_root_bundle.pem"
IPTC_REFERENCE = PROVENANCE / "iptc" / "IPTC-PhotometadataRef-Std2024.1.jpg"
DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}


def picture(width: int = 64, height: int = 48, *, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def xmp_packet(body: str) -> bytes:
    """An XMP packet whose rdf:Description holds ``body`` (namespaces for IPTC, xmp, dcterms declared)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def source_type_xmp(name: str) -> bytes:
    return xmp_packet(f"<Iptc4xmpExt:DigitalSourceType>{DST}{name}</Iptc4xmpExt:DigitalSourceType>")


def with_xmp(fmt: str, packet: bytes, img: Image.Image | None = None) -> bytes:
    """``img`` in ``fmt`` (JPEG, PNG, WEBP, TIFF) carrying ``packet`` where that format keeps XMP."""
    img = img or picture()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode())
        return encode(img, "PNG", pnginfo=info)
    if fmt == "TIFF":
        return encode(img, "TIFF", tiffinfo={700: packet})
    return encode(img, fmt, xmp=packet)


def png_with_text(
    chunks: dict[str, str], *, compressed: bool = False, img: Image.Image | None = None
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        if compressed:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    return encode(img or picture(), "PNG", pnginfo=info)


def with_exif(fmt: str, *, software: str = "", user_comment: bytes = b"", make: str = "") -> bytes:
    exif = Image.Exif()
    if software:
        exif[0x0131] = software
    if make:
        exif[0x010F] = make
    if user_comment:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    return encode(picture(), fmt, exif=exif.tobytes())


def sign_c2pa(data: bytes, fmt: str, *, actions: list[dict], title: str = "made.jpg") -> bytes:
    """``data`` signed with the SDK's ES256 test certificate, declaring ``actions``."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "deeptrust-tests", "version": "1"}],
        "title": title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256,
        (CERTS / "es256.pub").read_bytes(),
        (CERTS / "es256.pem").read_bytes(),
        None,
    )
    signer = c2pa.Signer.from_info(info)
    out = io.BytesIO()
    c2pa.Builder(manifest).sign(signer, MIME[fmt], io.BytesIO(data), out)
    return out.getvalue()


def created(source_type: str, agent: str = "deeptrust test generator") -> list[dict]:
    return [
        {"action": "c2pa.created", "softwareAgent": {"name": agent}, "digitalSourceType": DST + source_type}
    ]
