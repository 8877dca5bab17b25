"""Crop variants: PDQ hashes of a few crops of a listed image, so that a cropped re-upload still matches.

PDQ is not crop-robust: moving one edge of the picture by ~1.5 % of its size (two edges by ~1 %) moves the
hash past the match distance (benchmarks/pdq_reliability.py: a 2 % corner crop matches in 27-37 % of
images, 5 % never). Trust-and-safety systems therefore also list hashes of crops of a confirmed image.
When an entry is added from the image itself (a moderator's decision, ``deeptrust hashes add``), the store
keeps the hashes of the crops below beside it; a query that matches one of them reports the listed entry
and the crop it matched through. Imported CSV lists hold bare hashes: they get no variants.

The set was chosen by measurement (docs/evidence-reliability.md): a crop is matched when the query's crop
lies within about 1 % per edge of a variant (two or four edges cut) or 1.5 % (one edge, or two opposite
ones), so the fractions of the corner and centre crops are 2.5 % apart and those of the side crops 3-3.5 %
apart, up to 10 %. Crops of other shapes (a free rectangle cutting all four edges by different amounts)
and crops over ~11 % are not covered.

Codes are stored in the database (one byte before each 32-byte hash in ``hash_entries.crop_variants``):
they never change meaning; a new variant gets a new code. Non-goals: rotations, flips, padding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deeptrust.evidence.pdq import HASH_SIDE, MIN_QUALITY, PdqHash, hash_image

RECORD = 33  # bytes per stored variant: the code, then the hash's 32 bytes


@dataclass(frozen=True)
class CropVariant:
    code: int  # 1-255, stored
    name: str  # shown in answers, e.g. "5 % off the top-left"
    box: tuple[float, float, float, float]  # fraction cut off the left, top, right, bottom


_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "top-left": (1, 1, 0, 0),
    "top-right": (0, 1, 1, 0),
    "bottom-left": (1, 0, 0, 1),
    "bottom-right": (0, 0, 1, 1),
    "each side": (1, 1, 1, 1),
    "left": (1, 0, 0, 0),
    "right": (0, 0, 1, 0),
    "top": (0, 1, 0, 0),
    "bottom": (0, 0, 0, 1),
    "left and right": (1, 0, 1, 0),
    "top and bottom": (0, 1, 0, 1),
}
# two or four edges cut: tolerance ~1 % per edge; one edge or two opposite ones: ~1.5 %
_FRACTIONS = {
    "top-left": (0.025, 0.05, 0.075, 0.10),
    "top-right": (0.025, 0.05, 0.075, 0.10),
    "bottom-left": (0.025, 0.05, 0.075, 0.10),
    "bottom-right": (0.025, 0.05, 0.075, 0.10),
    "each side": (0.025, 0.05, 0.075, 0.10),
    "left": (0.035, 0.07, 0.10),
    "right": (0.035, 0.07, 0.10),
    "top": (0.035, 0.07, 0.10),
    "bottom": (0.035, 0.07, 0.10),
    "left and right": (0.035, 0.07, 0.10),
    "top and bottom": (0.035, 0.07, 0.10),
}


def _build() -> tuple[CropVariant, ...]:
    out: list[CropVariant] = []
    for shape, mask in _SHAPES.items():
        for fraction in _FRACTIONS[shape]:
            box = (mask[0] * fraction, mask[1] * fraction, mask[2] * fraction, mask[3] * fraction)
            name = (
                f"{fraction * 100:g} % off the {shape}"
                if mask.count(1) < 4
                else f"{fraction * 100:g} % off each side"
            )
            out.append(CropVariant(len(out) + 1, name, box))
    return tuple(out)


VARIANTS: tuple[CropVariant, ...] = _build()
_BY_CODE = {v.code: v for v in VARIANTS}


def variant_name(code: int) -> str:
    variant = _BY_CODE.get(code)
    return variant.name if variant is not None else f"crop variant {code}"


def crop(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = image.size
    left, top, right, bottom = box
    return image.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def hash_variants(
    image: Image.Image | np.ndarray, variants: Iterable[CropVariant] = VARIANTS
) -> list[tuple[int, PdqHash]]:
    """(code, hash) of each crop of ``image``, skipping hashes too flat to be matched (quality < 50).

    The image is reduced to ``HASH_SIDE`` first (as :func:`hash_image` does), so a 12 MP photo costs what
    a 512² one does: ~4 ms CPU per variant (0.16 s for all 38)."""
    img = Image.fromarray(image, "RGB") if isinstance(image, np.ndarray) else image
    img = img.convert("RGB") if img.mode != "RGB" else img
    if max(img.size) > HASH_SIDE:
        img = img.copy()
        img.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    out: list[tuple[int, PdqHash]] = []
    for variant in variants:
        pdq = hash_image(np.asarray(crop(img, variant.box)))
        if pdq.quality >= MIN_QUALITY:
            out.append((variant.code, pdq))
    return out


def pack_variants(variants: Iterable[tuple[int, PdqHash]]) -> bytes:
    """The stored form: one byte of code and the hash's 32 bytes per variant."""
    return b"".join(bytes([code]) + bytes.fromhex(pdq.hex) for code, pdq in variants)


def unpack_variants(blobs: list[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, code, words) of every variant stored in ``blobs`` (one per entry, None for none), in entry
    order: ``owner[k]`` is the index in ``blobs`` of variant ``k``. A blob whose length is not a whole
    number of records is skipped (it cannot have been written by :func:`pack_variants`)."""
    kept = [(i, bytes(b)) for i, b in enumerate(blobs) if b and len(b) % RECORD == 0]
    if not kept:
        return np.empty(0, np.int64), np.empty(0, np.uint8), np.empty((0, 4), np.uint64)
    counts = np.asarray([len(b) // RECORD for _, b in kept])
    owner = np.repeat(np.asarray([i for i, _ in kept], dtype=np.int64), counts)
    records = np.frombuffer(b"".join(b for _, b in kept), dtype=np.uint8).reshape(-1, RECORD)
    words = records[:, 1:].copy().view(">u8").astype(np.uint64).reshape(-1, 4)
    return owner, records[:, 0].copy(), words
