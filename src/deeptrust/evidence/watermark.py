"""Stable Diffusion's invisible watermark (``invisible-watermark``'s ``dwtDct`` method), read without torch.

The reference scripts mark every output: CompVis/runwayml SD 1.x with the bytes of ``"StableDiffusionV1"``
(136 bits; the inpainting script ``"StableDiffusionV1-Inpainting"``), Stability's SD 2 scripts with
``"SDV2"`` (32 bits), and SDXL (generative-models, and diffusers' SDXL pipelines) with a fixed 48-bit
message. ``dwtDct`` as shipped (invisible-watermark 0.2.0) writes bit ``k mod n`` of an ``n``-bit payload
into the ``k``-th 4×4 block (row-major) of the Haar approximation band of the U channel: the block's
largest coefficient other than its first is quantised to a step of 36, landing in the upper half of the
step for a 1 and the lower half for a 0 (despite the name, this method applies no DCT). Decoding reads every
block and takes a majority per bit.

Why a reimplementation: importing any module of the ``imwatermark`` package runs its ``__init__``, which
imports ``torch`` (for its RivaGAN method), and the serving install is torch-free. This decoder needs only
numpy: OpenCV is not needed either (the one OpenCV call the decoder makes, BGR→YUV on 8-bit pixels, is
reproduced below in OpenCV's own fixed-point arithmetic), nor PyWavelets (the Haar approximation band is a
2×2 sum; a sixth of the cost). ``tests/evidence/test_watermark.py`` checks the colour conversion against
``cv2.cvtColor`` and that this decoder reads what the reference encoder writes, bit for bit as the
reference decoder does.

What a mark is worth was measured (``benchmarks/watermark_reliability.py``, docs/evidence-reliability.md):
it survives lossless saving and little else, and it never appeared in real photos. So a decoded mark is a
strong "ai" signal, and its absence says nothing (most generators and front ends never add it, and any
resize or re-encode removes it). Non-goals: encoding, the other methods (``dwtDctSvd``, ``rivaGan``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from deeptrust.evidence._pixels import pixels_of
from deeptrust.evidence.types import Evidence

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

SCALE = 36.0  # the quantisation step of the U channel (the encoder's default scales [0, 36, 36])
BLOCK = 4
MIN_PIXELS = 256 * 256  # the reference refuses smaller images, so nothing smaller carries a mark
# OpenCV's 8-bit RGB→YUV, fixed point with 14 fractional bits (imgproc color_yuv): Y from R, G, B, then
# U = 0.492 (B - Y) + 128 from the rounded Y.
_SHIFT = 14
_R2Y, _G2Y, _B2Y, _B2U = 4899, 9617, 1868, 8061
_HAAR = 0.7071067811865476  # PyWavelets' Haar filter tap, the float64 nearest 1/√2


@dataclass(frozen=True)
class Payload:
    name: str  # stable identifier, in the entry's data
    generator: str  # who writes it, for the detail line
    bits: tuple[int, ...]
    max_errors: int  # decoded bits that may differ and still count as the mark (chosen by measurement)


def _bits_of_bytes(text: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(text, dtype=np.uint8)))


def _bits_of_int(value: int) -> tuple[int, ...]:
    return tuple(int(c) for c in bin(value)[2:])  # as generative-models builds WATERMARK_BITS


# max_errors: the most bit errors that fewer than 1 in 10^8 random bit strings of that length stay within
# (checked against real photos by benchmarks/watermark_reliability.py: see docs/evidence-reliability.md).
PAYLOADS: tuple[Payload, ...] = (
    Payload("sd1", "Stable Diffusion 1.x (reference scripts)", _bits_of_bytes(b"StableDiffusionV1"), 35),
    Payload(
        "sd1-inpainting",
        "Stable Diffusion 1.x inpainting (reference scripts)",
        _bits_of_bytes(b"StableDiffusionV1-Inpainting"),
        69,
    ),
    Payload("sd2", "Stable Diffusion 2 (reference scripts)", _bits_of_bytes(b"SDV2"), 1),
    Payload(
        "sdxl",
        "Stable Diffusion XL (generative-models, diffusers)",
        _bits_of_int(0b101100111110110010010000011110111011000110011110),
        5,
    ),
)


@dataclass(frozen=True)
class Match:
    payload: Payload
    errors: int  # decoded bits that differ from the payload


def u_channel(rgb: np.ndarray) -> np.ndarray:
    """The U plane of OpenCV's ``cvtColor(BGR2YUV)`` of an 8-bit RGB array, bit for bit (int32)."""
    half = 1 << (_SHIFT - 1)
    y = rgb[..., 0] * np.int32(_R2Y)
    y += rgb[..., 1] * np.int32(_G2Y)
    y += rgb[..., 2] * np.int32(_B2Y)
    y += half
    y >>= _SHIFT
    u = rgb[..., 2] - y  # int32: B - Y
    u *= _B2U
    u += (128 << _SHIFT) + half
    u >>= _SHIFT
    return np.clip(u, 0, 255, out=u)


def block_bits(rgb: np.ndarray) -> np.ndarray:
    """One 0/1 per 4×4 block of the U channel's Haar approximation, in the encoder's (row-major) order.

    The Haar approximation band is (a + b + c + d) / 2 over each 2×2 cell. It is computed as
    ``pywt.dwt2(u, "haar")[0]`` computes it (columns, then rows, each pair times 1/√2), so values on a
    quantisation step's edge round the same way and the bits equal the reference decoder's; ~6x faster."""
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    u = u_channel(rgb[:rows, :cols]).astype(np.float64)
    h = _HAAR
    approx = (u[0::2, 0::2] * h + u[1::2, 0::2] * h) * h + (u[0::2, 1::2] * h + u[1::2, 1::2] * h) * h
    nr, nc = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
    blocks = approx[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).swapaxes(1, 2)
    ac = np.abs(blocks.reshape(nr * nc, BLOCK * BLOCK)[:, 1:])
    strongest = ac[np.arange(ac.shape[0]), ac.argmax(axis=1)]  # ties: the first, as the reference
    return (strongest % SCALE) > 0.5 * SCALE


def decode_bits(blocks: np.ndarray, length: int) -> np.ndarray:
    """The ``length``-bit payload the blocks vote for (block ``k`` votes for bit ``k mod length``)."""
    slot = np.arange(blocks.size) % length
    ones = np.bincount(slot, weights=blocks, minlength=length)
    votes = np.bincount(slot, minlength=length)
    return (ones / np.maximum(votes, 1) * 255 > 127).astype(np.uint8)  # the reference's rounding


def payload_errors(blocks: np.ndarray) -> dict[str, int]:
    """Bit errors of the decoded bits against every known payload (smaller: closer)."""
    return {
        p.name: int(np.count_nonzero(decode_bits(blocks, len(p.bits)) != np.asarray(p.bits)))
        for p in PAYLOADS
    }


def detect(image: Image.Image | np.ndarray) -> Match | None:
    """The known payload the image carries, or None (also for images smaller than the reference allows).

    ``image``: a PIL image (any mode) or an (H, W, 3) uint8 RGB array."""
    if isinstance(image, Image.Image):
        image = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if image.shape[0] * image.shape[1] < MIN_PIXELS:
        return None
    blocks = block_bits(image)
    errors = payload_errors(blocks)
    found = [Match(p, errors[p.name]) for p in PAYLOADS if errors[p.name] <= p.max_errors]
    return min(found, key=lambda m: m.errors / len(m.payload.bits)) if found else None


def read_watermark(source: Source, settings: Settings) -> list[Evidence]:
    """The evidence reader: a ``watermark`` entry when a known Stable Diffusion mark decodes, else nothing.

    Skipped with ``DEEPTRUST_WATERMARK_DECODE=false``, for images over ``DEEPTRUST_WATERMARK_MAX_PIXELS``
    (the cost grows with the pixels and marked outputs are ~0.3-1 MP), and for JPEGs with subsampled chroma
    (4:2:0, 4:2:2; most uploads): the mark lives in the U channel and was read back from 0-12 % of 4:2:0
    copies at q95 and 0-2 % at q90 (docs/evidence-reliability.md), so decoding them costs without paying."""
    if not settings.watermark_decode or _subsampled_jpeg(source.data):
        return []
    pixels = pixels_of(source, settings)
    if pixels.shape[0] * pixels.shape[1] > settings.watermark_max_pixels:
        return []
    match = detect(pixels)
    return [] if match is None else [to_evidence(match)]


def _subsampled_jpeg(data: bytes) -> bool:
    """Whether ``data`` is a JPEG whose chroma is subsampled (reads the header only)."""
    if not data.startswith(b"\xff\xd8"):
        return False
    from PIL import JpegImagePlugin

    try:
        with Image.open(io.BytesIO(data)) as img:
            return isinstance(img, JpegImagePlugin.JpegImageFile) and JpegImagePlugin.get_sampling(img) in (
                1,
                2,
            )
    except Exception:  # unreadable header: decode and let the pixels decide
        return False


def to_evidence(match: Match) -> Evidence:
    p = match.payload
    return Evidence(
        kind="watermark",
        signal="ai",
        strength="strong",
        detail=f"invisible watermark of {p.generator} ({len(p.bits) - match.errors}/{len(p.bits)} bits)",
        data={"payload": p.name, "bits": len(p.bits), "bit_errors": match.errors, "method": "dwtDct"},
    )


@cache
def payload(name: str) -> Payload:
    """A known payload by name (KeyError with the known names otherwise)."""
    for p in PAYLOADS:
        if p.name == name:
            return p
    raise KeyError(f"unknown watermark payload {name!r}; known: {', '.join(p.name for p in PAYLOADS)}")
