"""Live quality: reviewed feedback in a real store → precision, recall and FPR per model version."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry

from deeptrust.feedback import FeedbackStore
from deeptrust.rollout.metrics import RolloutMetrics
from deeptrust.rollout.quality import QualityLoop, confusion, rates

from ..serve.conftest import jpeg_bytes

REAL = {"REAL"}


def test_confusion_counts_ai_as_the_positive_class():
    rows = [
        ("m", "1", "FAKE", "FAKE", 3),  # tp
        ("m", "1", "FAKE", "REAL", 1),  # fp
        ("m", "1", "REAL", "REAL", 5),  # tn
        ("m", "1", "REAL", "FAKE", 2),  # fn
        ("m", "2", "REAL", "FAKE", 1),
    ]
    table = confusion(rows, REAL)
    assert table[("m", "1")] == Counter(tp=3, fp=1, tn=5, fn=2)
    assert rates(table[("m", "1")]) == pytest.approx({"precision": 0.75, "recall": 0.6, "fpr": 1 / 6})
    second = rates(table[("m", "2")])
    assert second["recall"] == 0.0 and math.isnan(second["precision"]) and math.isnan(second["fpr"])


@pytest.fixture
def store(tmp_path):
    with FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}", tmp_path / "images") as store:
        store.create_schema()
        yield store


def _borderline(store, seed, predicted, version="1.0.0"):
    return store.add_borderline(
        jpeg_bytes(seed=seed), predicted_label=predicted, p_ai=0.5, threshold=0.5, model_name="photos",
        model_version=version, who="t",
    )  # fmt: skip


def test_the_loop_exports_figures_per_version_from_reviewed_items(store):
    fp = store.add_feedback(
        jpeg_bytes(seed=1), predicted_label="FAKE", corrected_label="REAL", p_ai=0.9, model_version="1.0.0",
        model_name="photos", who="u",
    )  # fmt: skip
    store.review(fp.id, "approve", reviewer="mod")
    store.review(_borderline(store, 2, "FAKE").id, "approve", reviewer="mod")  # tp
    store.review(_borderline(store, 3, "REAL").id, "relabel", label="FAKE", reviewer="mod")  # fn
    store.review(_borderline(store, 4, "REAL").id, "approve", reviewer="mod")  # tn
    _borderline(store, 5, "FAKE")  # pending: not counted
    store.review(_borderline(store, 6, "FAKE", "2.0.0").id, "approve", reviewer="mod")  # v2: tp

    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    loop = QualityLoop(lambda: store, metrics, real_labels=lambda: REAL, days=30, interval_s=60)
    figures = loop.run_once()
    assert figures[("photos", "1.0.0")] == pytest.approx({"precision": 0.5, "recall": 0.5, "fpr": 0.5})

    def value(name, version, **labels):
        return registry.get_sample_value(name, {"model": "photos", "version": version, **labels})

    assert value("deeptrust_feedback_precision", "1.0.0") == 0.5
    assert value("deeptrust_feedback_false_positive_rate", "1.0.0") == 0.5
    assert value("deeptrust_feedback_reviewed_items", "1.0.0", outcome="tn") == 1
    assert value("deeptrust_feedback_recall", "2.0.0") == 1.0
    assert math.isnan(value("deeptrust_feedback_false_positive_rate", "2.0.0"))  # no real photo reviewed


def test_no_store_means_no_figures():
    loop = QualityLoop(lambda: None, RolloutMetrics(CollectorRegistry()), real_labels=lambda: REAL,
                       days=30, interval_s=60)  # fmt: skip
    assert loop.run_once() == {}
