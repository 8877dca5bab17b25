"""Fusion: each rule of the table, in its order, and that p_ai never changes."""

from __future__ import annotations

import pytest

from deeptrust.evidence.fusion import BAND, evidence_fields, fuse
from deeptrust.evidence.types import Evidence


def ev(signal: str, strength: str, kind: str = "c2pa") -> Evidence:
    return Evidence(kind, signal, strength, f"{signal} {strength}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("p_ai", "evidence", "label", "rule"),
    [
        (0.01, [ev("ai", "conclusive")], "ai", "ai-conclusive"),  # whatever the pixels say
        (0.99, [ev("real", "conclusive"), ev("ai", "conclusive", "hash_match")], "ai", "ai-conclusive"),
        (0.99, [ev("tampered", "strong")], "tampered", "tampered-credentials"),
        (0.01, [ev("tampered", "strong"), ev("ai", "strong", "iptc")], "tampered", "tampered-credentials"),
        (0.99, [ev("real", "conclusive")], "real", "real-conclusive"),
        (
            0.99,
            [ev("real", "conclusive"), ev("ai", "moderate", "generator_metadata")],
            "real",
            "real-conclusive",
        ),
        # a trusted capture that also carries generation parameters: the AI evidence wins
        (0.01, [ev("real", "conclusive"), ev("ai", "strong", "generator_metadata")], "ai", "ai-strong"),
        (0.01, [ev("ai", "strong", "iptc")], "ai", "ai-strong"),
        (0.99, [ev("real", "strong", "hash_match")], "real", "real-strong"),
        (0.99, [ev("real", "strong"), ev("ai", "moderate")], "ai", "pixels"),
        # moderate evidence decides only near the threshold, and only when it points one way
        (0.45, [ev("ai", "moderate", "generator_metadata")], "ai", "moderate-tiebreak"),
        (0.55, [ev("real", "moderate")], "real", "moderate-tiebreak"),
        (0.55, [ev("real", "moderate"), ev("ai", "moderate")], "ai", "pixels"),
        (0.10, [ev("ai", "moderate", "generator_metadata")], "real", "pixels"),
        # weak, edited, none and moderate-tampered entries never move the verdict
        (0.49, [ev("real", "weak", "exif"), ev("edited", "weak"), ev("none", "weak")], "real", "pixels"),
        (0.51, [ev("tampered", "moderate")], "ai", "pixels"),
        (0.50, [], "ai", "pixels"),  # at the threshold is AI, as the pixel model's own label
    ],
)
def test_rules_in_order(p_ai, evidence, label, rule):
    verdict = fuse(p_ai, 0.5, evidence)
    assert (verdict.label, verdict.rule) == (label, rule)
    assert verdict.basis == ("pixels" if rule == "pixels" else "evidence")


def test_the_reason_names_the_deciding_entry():
    verdict = fuse(
        0.1, 0.5, [ev("edited", "weak"), Evidence("c2pa", "ai", "conclusive", "signed by Firefly")]
    )
    assert verdict.reason == "c2pa: signed by Firefly"
    assert "p_ai 0.100 < threshold 0.500" in fuse(0.1, 0.5, []).reason


def test_the_band_is_a_parameter():
    moderate = [ev("ai", "moderate")]
    assert fuse(0.5 - BAND + 0.01, 0.5, moderate).rule == "moderate-tiebreak"
    assert fuse(0.5 - BAND - 0.01, 0.5, moderate).rule == "pixels"
    assert fuse(0.3, 0.5, moderate, band=0.3).label == "ai"


def test_evidence_fields_carry_entries_and_verdict():
    fields = evidence_fields(0.2, 0.5, [Evidence("iptc", "ai", "strong", "d", {"x": 1})])
    assert fields["evidence"] == [
        {"kind": "iptc", "signal": "ai", "strength": "strong", "detail": "d", "data": {"x": 1}}
    ]
    assert fields["verdict"]["label"] == "ai" and fields["verdict"]["rule"] == "ai-strong"
    assert "p_ai" not in fields  # the pixel score is the model's, untouched
