"""Evidence as the scanner stores it: one JSON text column of ``{kind, signal, strength, detail}`` entries.

A row must round-trip through CSV, JSON Lines, Parquet and Ray batches, and a resumed scan re-derives
the verdict from the stored column, so the entries travel as compact JSON text (``data`` is left out:
it can be large, and the detail already says what matters).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from deeptrust.evidence.collect import collect
from deeptrust.evidence.fusion import RANK
from deeptrust.evidence.types import Evidence

if TYPE_CHECKING:
    import numpy as np

FIELDS = ("kind", "signal", "strength", "detail")
SIGNALS = ("ai", "real", "edited", "tampered", "none")


def scan_evidence(data: bytes, pixels: np.ndarray | None) -> str:
    """Every reader's evidence about one scanned image, as the ``evidence`` column's text ('' if none)."""
    entries = collect(data, pixels)
    if not entries:
        return ""
    return json.dumps([{k: getattr(e, k) for k in FIELDS} for e in entries], ensure_ascii=False)


def parse_entries(text: str) -> list[Evidence]:
    """The ``evidence`` column back into entries (for the verdict); malformed text reads as none."""
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    return [
        Evidence(str(i["kind"]), i["signal"], i["strength"], str(i["detail"]))
        for i in items
        if isinstance(i, dict)
        and all(k in i for k in FIELDS)
        and i["signal"] in SIGNALS
        and i["strength"] in RANK
    ]
