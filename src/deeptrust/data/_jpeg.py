"""JPEG quantisation-table facts: a quality estimate on the libjpeg (IJG) scale and a table hash.

The estimate matches libjpeg's ``jpeg_set_quality`` exactly for IJG-made files (Pillow, libjpeg,
most cameras' "standard" tables); for custom tables it is the nearest IJG quality, good enough to
tell "quality 75" from "quality 95" but not a forensic tool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

# ITU-T T.81 Annex K luminance table, natural (row-major) order, as Pillow returns it.
IJG_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.int64,
)  # fmt: skip


def _scaled_tables() -> np.ndarray:
    """Row q-1 holds the luminance table libjpeg writes at quality q (baseline, clamped 1..255)."""
    quality = np.arange(1, 101)
    scale = np.where(quality < 50, 5000 // quality, 200 - 2 * quality)
    tables = (IJG_LUMINANCE[None, :] * scale[:, None] + 50) // 100
    return np.clip(tables, 1, 255)


_TABLES = _scaled_tables()


def estimate_quality(tables: Mapping[int, Sequence[int]]) -> int:
    """Quality 1..100 whose IJG luminance table is nearest (L1) to table 0; -1 without tables."""
    luminance = tables.get(0)
    if luminance is None or len(luminance) != 64:
        return -1
    distance = np.abs(_TABLES - np.asarray(luminance, dtype=np.int64)[None, :]).sum(axis=1)
    # On ties prefer the higher quality: argmin over the reversed rows, mapped back.
    return int(100 - np.argmin(distance[::-1]))


def hash_tables(tables: Mapping[int, Sequence[int]]) -> str:
    """Short stable hash of all quantisation tables; "" without tables."""
    if not tables:
        return ""
    text = ";".join(f"{key}:{','.join(map(str, tables[key]))}" for key in sorted(tables))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
