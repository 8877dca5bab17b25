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

import json
import re
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
_HEX = re.compile(r"\b[0-9a-f]{64}\b")


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
    """An informational entry (signal ``none``, never changes a verdict) carrying the hash, so answers show
    it and the scanner's ``pdq`` column (:func:`hash_in_entries`) can be filled from the stored entries."""
    return Evidence(
        kind="pdq",
        signal="none",
        strength="weak",
        detail=f"PDQ {pdq.hex} (quality {pdq.quality})",
        data={"hash": pdq.hex, "quality": pdq.quality},
    )


def hash_in_entries(entries: list[dict[str, Any]]) -> str:
    """The PDQ hash recorded in evidence entries (dicts with kind and detail), or ''."""
    for entry in entries:
        if entry.get("kind") == "pdq":
            match = _HEX.search(str(entry.get("detail", "")))
            if match:
                return match.group(0)
    return ""


def split_pdq(evidence: str) -> tuple[str, str]:
    """The evidence column without the informational ``pdq`` entry, and the PDQ hash it carried.

    The hash gets its own ``pdq`` column (to join scans with hash lists); the column keeps the entries
    that say something about the image."""
    try:
        entries = json.loads(evidence) if evidence else []
    except ValueError:
        return evidence, ""
    if not isinstance(entries, list):
        return evidence, ""
    pdq = hash_in_entries([e for e in entries if isinstance(e, dict)])
    if not pdq:
        return evidence, ""
    rest = [e for e in entries if not (isinstance(e, dict) and e.get("kind") == "pdq")]
    return (json.dumps(rest, ensure_ascii=False) if rest else ""), pdq


def join_pdq(evidence: str, pdq: str) -> str:
    """The inverse of :func:`split_pdq`, for outcomes re-read from a stored row (resume)."""
    if not pdq:
        return evidence
    entry = {k: getattr(to_evidence(PdqHash(pdq, 0)), k) for k in ("kind", "signal", "strength", "detail")}
    try:
        entries = json.loads(evidence) if evidence else []
    except ValueError:
        return evidence
    return json.dumps([*entries, entry], ensure_ascii=False)
