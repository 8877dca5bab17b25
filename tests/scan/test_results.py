"""Rows and the resolver: each content is scored once, copies wait for their owner's outcome."""

from __future__ import annotations

import numpy as np
import pytest

from deeptrust.scan.results import Outcome, Resolver, RowMaker, scan_columns


@pytest.fixture
def rows(detector) -> RowMaker:
    return RowMaker(detector)


def test_columns_follow_the_model_card(detector):
    assert scan_columns(detector.card) == (
        "path", "sha256", "width", "height", "format", "label", "p_ai",
        "score_FAKE", "score_REAL", "verdict", "verdict_rule", "evidence", "pdq",
        "model", "model_version", "error",
    )  # fmt: skip


def test_rows_label_with_the_detectors_rule(rows, detector):
    threshold = detector.card.threshold
    for p_fake in (threshold - 0.01, threshold + 0.01, 0.99):
        probs = (p_fake, 1 - p_fake)
        row = rows.row("a.jpg", "ab", Outcome(32, 32, "JPEG", probs))
        assert row["label"] == detector.label_for(np.asarray(probs))
        assert row["p_ai"] == pytest.approx(p_fake) and row["error"] == ""
        assert rows.outcome(row) == Outcome(32, 32, "JPEG", probs)


def test_error_rows_have_no_scores(rows):
    row = rows.row("a.jpg", "ab", Outcome(format="JPEG", error="corrupt_image: truncated"))
    assert row["label"] == "" and row["p_ai"] is None and row["score_FAKE"] is None
    assert row["model"] == "cifake" and row["error"] == "corrupt_image: truncated"


def test_copies_wait_for_their_owner_and_get_its_outcome(rows):
    resolver = Resolver(rows)
    assert resolver.claim("s1", "a.jpg")
    assert not resolver.claim("s1", "b.jpg")
    assert resolver.claim("s1", "a.jpg")  # a retry of the owner still owns it
    assert resolver.copy("b.jpg", "s1") == []  # owner still in flight
    outcome = Outcome(32, 32, "JPEG", (0.9, 0.1))
    emitted = resolver.resolve("a.jpg", "s1", outcome)
    assert [r["path"] for r in emitted] == ["a.jpg", "b.jpg"]
    assert emitted[0] | {"path": "b.jpg"} == emitted[1]
    [late] = resolver.copy("c.jpg", "s1")
    assert late["p_ai"] == emitted[0]["p_ai"]
    assert resolver.duplicates == 2 and resolver.unresolved() == []


def test_remembered_rows_serve_later_copies_and_lost_copies_are_reported(rows):
    resolver = Resolver(rows)
    old = rows.row("old.jpg", "s1", Outcome(32, 32, "JPEG", (0.2, 0.8)))
    resolver.remember(old)
    resolver.remember(old | {"path": "old-copy.jpg"})
    assert not resolver.claim("s1", "new.jpg")
    assert resolver.copy("new.jpg", "s1")[0]["score_REAL"] == 0.8
    assert resolver.duplicates == 2
    resolver.copy("orphan.jpg", "s2")
    assert resolver.unresolved() == ["orphan.jpg"]
