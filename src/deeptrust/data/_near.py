"""Near-duplicate content: a 64-bit difference hash per image and groups of hashes a few bits apart.

The same photo re-encoded, lightly resized or stripped of metadata has another sha256 but (nearly) the
same difference hash (dHash: is each of 8x9 grey cells brighter than its right neighbour). Groups are
found without comparing all pairs: two hashes at most ``max_distance`` <= 3 bits apart agree exactly on
at least one of their four 16-bit quarters, so only rows sharing a quarter are compared. Hashes with
few set or unset bits (flat or plain-gradient images, which collide without being copies) never group.
Non-goal: crops, rotations or heavy edits (a different dHash); this finds copies, not similar images.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from PIL import Image

MAX_DISTANCE = 3  # bits; at most 3 so that the four-quarter search finds every pair
_MIN_BITS = 8  # a hash with fewer set (or unset) bits than this carries too little to match on
_BUCKET_LIMIT = 256  # quarters shared by more rows than this are too common to pair on alone


def difference_hash(img: Image.Image) -> str:
    """16 hex digits of the 64-bit dHash of a loaded image."""
    grey = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return f"{int(np.packbits(bits).view('>u8')[0]):016x}"


def near_duplicate_groups(
    hashes: pd.Series,
    *,
    max_distance: int = MAX_DISTANCE,
    exact: pd.Series | None = None,
    across: pd.Series | None = None,
) -> pd.Series:
    """A group label per row (the index label of its first member); rows with no copy are alone.

    ``exact`` (e.g. sha256) puts rows with equal values in one group whatever their hashes;
    ``across`` (e.g. the dataset) links near copies only between rows whose values differ.
    """
    if not 0 <= max_distance <= 3:
        raise ValueError(f"max_distance must be 0..3 bits, got {max_distance}")
    values = [int(h, 16) if h else -1 for h in hashes]
    parent = list(range(len(values)))
    if exact is not None:
        first: dict[object, int] = {}
        for i, key in enumerate(exact):
            _union(parent, first.setdefault(key, i), i)
    blocks = list(across) if across is not None else None
    for i, j in _candidate_pairs(values):
        if blocks is not None and blocks[i] == blocks[j]:
            continue
        if bin(values[i] ^ values[j]).count("1") <= max_distance:
            _union(parent, i, j)
    roots = [_find(parent, i) for i in range(len(values))]
    return pd.Series([hashes.index[r] for r in roots], index=hashes.index)


def _informative(value: int) -> bool:
    return value >= 0 and _MIN_BITS <= bin(value).count("1") <= 64 - _MIN_BITS


def _candidate_pairs(values: list[int]) -> set[tuple[int, int]]:
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, value in enumerate(values):
        if _informative(value):
            for quarter in range(4):
                buckets[(quarter, (value >> (16 * quarter)) & 0xFFFF)].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        if 1 < len(members) <= _BUCKET_LIMIT:
            pairs.update((a, b) for n, a in enumerate(members) for b in members[n + 1 :])
    return pairs


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _union(parent: list[int], i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)
