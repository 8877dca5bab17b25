"""PDQ perceptual hashes (Meta's open standard for matching known images in trust and safety).

A PDQ hash is 256 bits; two images whose hashes differ in few bits (Hamming distance) look the same after
resizing, recompression or small crops. Hashes are written as 64 hex digits, first bit most significant, as
Meta's ThreatExchange tools write them, so hash lists exchanged with other platforms compare directly.

Images larger than ``HASH_SIDE`` on their long side are downscaled (box filter) before hashing: PDQ blurs
and decimates to 64×64 anyway, the hash moves by a few bits at most (measured in
benchmarks/pdq_reliability.py) and a 12 MP photo hashes in milliseconds instead of a quarter second.
Non-goals: video (TMK+PDQF), the dihedral (rotated/flipped) variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from deeptrust.evidence.types import Evidence

BITS = 256
HEX_DIGITS = BITS // 4
HASH_SIDE = 512  # long side the image is reduced to before hashing
# Below this quality (0-100, PDQ's own measure of how much gradient the image has) hashes of unrelated
# flat images collide; Meta's tools drop them. Such hashes are still returned, but never matched.
MIN_QUALITY = 50


@dataclass(frozen=True)
class PdqHash:
    hex: str  # 64 lower-case hex digits
    quality: int  # 0-100

    def words(self) -> np.ndarray:
        """The hash as 4 big-endian uint64 words (what the matcher stores)."""
        return hex_to_words(self.hex)


def hash_image(image: Image.Image | np.ndarray) -> PdqHash:
    """The PDQ hash of a decoded image: a PIL image (any mode) or an (H, W, 3) uint8 RGB array."""
    import pdqhash  # a compiled extension: imported on first use

    if isinstance(image, np.ndarray):
        if max(image.shape[:2]) <= HASH_SIDE:
            return _hash(pdqhash, image)
        image = Image.fromarray(image, "RGB")
    img = image.convert("RGB") if image.mode != "RGB" else image
    if max(img.size) > HASH_SIDE:
        img = img.copy()
        img.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    return _hash(pdqhash, np.asarray(img))


def _hash(pdqhash: Any, rgb: np.ndarray) -> PdqHash:
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return PdqHash(np.packbits(vector.astype(np.uint8)).tobytes().hex(), int(quality))


def normalise_hex(text: str) -> str:
    """A PDQ hash as 64 lower-case hex digits, or ValueError saying what is wrong with ``text``."""
    value = text.strip().lower()
    if len(value) != HEX_DIGITS:
        raise ValueError(f"a PDQ hash is {HEX_DIGITS} hex digits, got {len(value)} characters: {text[:80]!r}")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"a PDQ hash is hex digits 0-9a-f only, got {text[:80]!r}") from None
    return value


def hex_to_words(hex_hash: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(normalise_hex(hex_hash)), dtype=">u8").astype(np.uint64)


def words_to_hex(words: np.ndarray) -> str:
    return np.asarray(words, dtype=">u8").tobytes().hex()


def distance(a: str, b: str) -> int:
    """Hamming distance of two hex PDQ hashes."""
    return int(np.bitwise_count(hex_to_words(a) ^ hex_to_words(b)).sum())


def to_evidence(pdq: PdqHash) -> Evidence:
    """An informational entry (signal ``none``) carrying the hash, so answers and scan rows show it."""
    return Evidence(
        kind="pdq",
        signal="none",
        strength="weak",
        detail=f"PDQ hash {pdq.hex[:16]}… (quality {pdq.quality})",
        data={"hash": pdq.hex, "quality": pdq.quality},
    )
