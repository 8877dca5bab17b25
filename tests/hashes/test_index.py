"""The multi-index lookup returns exactly what a full scan returns, at every distance."""

from __future__ import annotations

import numpy as np
import pytest

from deeptrust.hashes.index import HashIndex


def flip(words: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(words.astype(">u8").view(np.uint8))
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


@pytest.mark.parametrize("max_distance", [0, 15, 16, 31, 40, 47, 48, 80])
def test_same_answer_as_a_scan(max_distance: int) -> None:
    rng = np.random.default_rng(max_distance)
    words = rng.integers(0, 2**64, (20_000, 4), dtype=np.uint64)
    index = HashIndex(words)
    for k in range(60):
        row = int(rng.integers(0, len(words)))
        query = (
            flip(words[row], int(rng.integers(0, max_distance + 8)), rng)
            if k % 3
            else rng.integers(0, 2**64, 4, dtype=np.uint64)
        )
        assert index.nearest(query, max_distance) == index.nearest_scan(query, max_distance)


def test_planted_neighbours_are_found() -> None:
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2**64, (50_000, 4), dtype=np.uint64)
    index = HashIndex(words)
    for d in (0, 1, 8, 17, 31):
        hit = index.nearest(flip(words[1234], d, rng), 31)
        assert hit is not None and hit.row == 1234 and hit.distance == d
    assert index.nearest(flip(words[1234], 32, rng), 31) is None


def test_duplicates_resolve_to_the_first_row_and_empty_index() -> None:
    words = np.zeros((3, 4), dtype=np.uint64)
    assert HashIndex(words).nearest(np.zeros(4, np.uint64), 10).row == 0
    assert HashIndex(np.empty((0, 4), np.uint64)).nearest(np.zeros(4, np.uint64), 31) is None
    # the complement of a listed hash is 256 bits away, never a match (no 8-bit counter wrapping)
    full = np.full(4, np.iinfo(np.uint64).max, dtype=np.uint64)
    assert HashIndex(words).nearest_scan(full, 255) is None
