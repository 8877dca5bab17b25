"""Fusion: the pixel model's score and the evidence → one verdict, by the ordered rules in ``RULES``.

``p_ai`` stays the pixel model's score, untouched; the verdict says what deeptrust concludes and which
rule decided, so every answer is explainable ("signed by Adobe Firefly" rather than "p_ai = 0.31").
The first rule that applies wins:

=====================  ==========  ================================================================
rule                   label       when
=====================  ==========  ================================================================
ai-conclusive          ai          conclusive AI evidence: a valid C2PA manifest declaring an AI
                                   digital source type; a hash moderators confirmed as AI
tampered-credentials   tampered    strong tampered evidence: a C2PA manifest whose content or claim
                                   changed after signing
real-conclusive        real        conclusive real evidence (a trusted C2PA capture; a hash confirmed
                                   real) and no AI evidence of strong or conclusive strength
ai-strong              ai          strong AI evidence: IPTC trainedAlgorithmicMedia in XMP, generation
                                   parameters (AUTOMATIC1111, ComfyUI, InvokeAI, NovelAI), a watermark
                                   as strong as its measurement allows
real-strong            real        strong real evidence and no AI evidence of moderate or more
moderate-tiebreak      ai / real   the pixel score is within ``band`` of the threshold and the moderate
                                   evidence points one way only (a generator's name; an untrusted
                                   C2PA capture)
pixels                 ai / real   otherwise: p_ai >= threshold → ai, else real
=====================  ==========  ================================================================

``weak`` entries (a camera's EXIF make, an editor's name, a capture declared in unsigned XMP, notes on
malformed metadata) and ``edited``/``none`` signals never change the verdict; they are listed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from deeptrust.evidence.types import Evidence, Signal, Strength

Label = Literal["ai", "real", "tampered"]
RANK: dict[Strength, int] = {"weak": 0, "moderate": 1, "strong": 2, "conclusive": 3}
BAND = 0.15  # |p_ai - threshold| under which moderate evidence decides


@dataclass(frozen=True)
class Verdict:
    label: Label
    basis: Literal["evidence", "pixels"]
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _strongest(evidence: Sequence[Evidence], signal: Signal, at_least: Strength) -> Evidence | None:
    """The strongest entry with ``signal`` of at least ``at_least`` strength (the first of equals)."""
    best = None
    for entry in evidence:
        rank = RANK[entry.strength]
        if entry.signal == signal and rank >= RANK[at_least] and (best is None or rank > RANK[best.strength]):
            best = entry
    return best


Rule = tuple[str, Label, Callable[[Sequence[Evidence]], Evidence | None]]
RULES: list[Rule] = [
    ("ai-conclusive", "ai", lambda ev: _strongest(ev, "ai", "conclusive")),
    ("tampered-credentials", "tampered", lambda ev: _strongest(ev, "tampered", "strong")),
    (
        "real-conclusive",
        "real",
        lambda ev: None if _strongest(ev, "ai", "strong") else _strongest(ev, "real", "conclusive"),
    ),
    ("ai-strong", "ai", lambda ev: _strongest(ev, "ai", "strong")),
    (
        "real-strong",
        "real",
        lambda ev: None if _strongest(ev, "ai", "moderate") else _strongest(ev, "real", "strong"),
    ),
]


def fuse(p_ai: float, threshold: float, evidence: Sequence[Evidence], *, band: float = BAND) -> Verdict:
    """The verdict for one image (see the module docstring for the rules)."""
    for name, label, match in RULES:
        entry = match(evidence)
        if entry is not None:
            return Verdict(label, "evidence", name, f"{entry.kind}: {entry.detail}")
    if abs(p_ai - threshold) < band:
        tiebreak = _tiebreak(p_ai, threshold, evidence)
        if tiebreak is not None:
            return tiebreak
    verdict: Label = "ai" if p_ai >= threshold else "real"
    relation = ">=" if verdict == "ai" else "<"
    return Verdict(
        verdict, "pixels", "pixels", f"pixel model: p_ai {p_ai:.3f} {relation} threshold {threshold:.3f}"
    )


def _tiebreak(p_ai: float, threshold: float, evidence: Sequence[Evidence]) -> Verdict | None:
    """Moderate evidence that points one way only decides a pixel score near the threshold."""
    ai, real = _strongest(evidence, "ai", "moderate"), _strongest(evidence, "real", "moderate")
    if (ai is None) == (real is None):
        return None
    label: Label = "ai" if ai is not None else "real"
    entry = ai or real
    if entry is None:  # unreachable: exactly one of the two is set
        return None
    near = f"pixel score {p_ai:.3f} is near the threshold {threshold:.3f}"
    return Verdict(label, "evidence", "moderate-tiebreak", f"{near}; {entry.kind}: {entry.detail}")


def evidence_fields(p_ai: float, threshold: float, evidence: Sequence[Evidence]) -> dict[str, Any]:
    """What every answer carries: ``evidence`` (the entries) and ``verdict`` (the fused conclusion), and
    ``pdq``, the image's PDQ hash (the ``pdq`` reader's informational entry, lifted out of the list)."""
    shown = [e for e in evidence if e.kind != "pdq"]
    pdq = next((e.data.get("hash") for e in evidence if e.kind == "pdq"), None)
    return {
        "evidence": [e.to_dict() for e in shown],
        "verdict": fuse(p_ai, threshold, shown).to_dict(),
        "pdq": pdq,
    }
