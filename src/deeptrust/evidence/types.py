"""What every source of evidence beyond the pixels returns: a list of ``Evidence`` entries.

An entry says which kind of evidence it is (``c2pa``, ``iptc``, ``generator_metadata``, ``watermark``,
``hash_match``, ...), which way it points (``signal``), how strongly (``strength``, chosen from measured
reliability: see the README's "Evidence" section) and a human-readable ``detail`` plus structured ``data``.
The fusion rules (``deeptrust.evidence.fusion``) turn the pixel model's score and these entries into a
verdict; ``p_ai`` stays the pixel model's score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Signal = Literal["ai", "real", "edited", "tampered", "none"]
Strength = Literal["conclusive", "strong", "moderate", "weak"]


@dataclass(frozen=True)
class Evidence:
    kind: str
    signal: Signal
    strength: Strength
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
