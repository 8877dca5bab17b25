from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from deeptrust.evaluate.metrics import (
    choose_threshold,
    compute_metrics,
    expected_calibration_error,
    predicted_labels,
)

REQUIRED = {
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "tpr_at_fpr_1pct",
    "tpr_at_fpr_5pct",
    "ece",
    "n",
    "confusion_matrix",
    "class_names",
    "threshold",
}
BINARY = {"class_names": ("FAKE", "REAL"), "real_class": "REAL"}


def binary_probs(p_ai: np.ndarray) -> np.ndarray:
    return np.stack([p_ai, 1.0 - p_ai], axis=1)  # columns FAKE, REAL


def test_small_hand_computed_case() -> None:
    labels = ["FAKE", "FAKE", "FAKE", "REAL", "REAL", "REAL"]
    p_ai = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1])
    m = compute_metrics(labels, binary_probs(p_ai), threshold=0.5, **BINARY)
    # At 0.5: TP=2 (0.9, 0.6), FN=1 (0.3), FP=1 (0.7), TN=2.
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == pytest.approx(1 / 3)
    # Pairs (AI, real) ranked correctly: 0.9 > all 3, 0.6 > 2, 0.3 > 2 → 7 of 9.
    assert m["roc_auc"] == pytest.approx(7 / 9)
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["class_names"] == ["FAKE", "REAL"]
    assert set(m) >= REQUIRED
    json.dumps(m, allow_nan=False)


def test_agrees_with_sklearn_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.4
    p_ai = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    labels = np.where(y, "FAKE", "REAL").tolist()
    m = compute_metrics(labels, binary_probs(p_ai), threshold=0.5, **BINARY)
    pred = p_ai >= 0.5
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p_ai))
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p_ai))


def test_tpr_at_fpr_is_the_best_tpr_within_the_fpr_budget() -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    p_ai = np.r_[rng.uniform(0.3, 1.0, 200), rng.uniform(0.0, 0.7, 200)]
    m = compute_metrics(np.where(y, "FAKE", "REAL").tolist(), binary_probs(p_ai), threshold=0.5, **BINARY)
    for key, budget in (("tpr_at_fpr_1pct", 0.01), ("tpr_at_fpr_5pct", 0.05)):
        best = max((p_ai[y] >= t).mean() for t in np.unique(p_ai) if (p_ai[~y] >= t).mean() <= budget)
        assert m[key] == pytest.approx(best)


def test_perfect_classifier() -> None:
    labels = ["FAKE"] * 50 + ["REAL"] * 50
    p_ai = np.r_[np.full(50, 0.99), np.full(50, 0.01)]
    m = compute_metrics(labels, binary_probs(p_ai), threshold=0.5, **BINARY)
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"):
        assert m[key] == pytest.approx(1.0)
    assert m["tpr_at_fpr_1pct"] == 1.0
    assert m["ece"] == pytest.approx(0.01)


def test_random_classifier_is_near_chance() -> None:
    rng = np.random.default_rng(3)
    labels = rng.choice(["FAKE", "REAL"], size=4000).tolist()
    m = compute_metrics(labels, binary_probs(rng.random(4000)), threshold=0.5, **BINARY)
    assert m["roc_auc"] == pytest.approx(0.5, abs=0.03)
    assert m["accuracy"] == pytest.approx(0.5, abs=0.03)
    assert m["tpr_at_fpr_5pct"] == pytest.approx(0.05, abs=0.03)


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.29, 0.5])
def test_choose_threshold_meets_the_target_and_is_minimal(target: float) -> None:
    rng = np.random.default_rng(4)
    y = rng.random(500) < 0.5
    # float32 like an ONNX model, with ties: scores rounded to 2 decimals.
    p_ai = np.round(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1), 2).astype(np.float32)
    t = choose_threshold(y, p_ai, target_fpr=target)
    fpr = lambda th: float((p_ai[~y] >= th).mean())  # noqa: E731
    assert fpr(t) <= target
    if t > 0:  # a hair lower (next float32 down) breaks the target
        assert fpr(np.nextafter(np.float32(t), np.float32(0))) > target


def test_choose_threshold_edge_cases() -> None:
    y = np.array([True, True, False, False])
    assert choose_threshold(y, np.array([0.9, 0.8, 0.1, 0.2]), target_fpr=0.5) == pytest.approx(
        np.nextafter(np.float32(0.1), np.float32(1))
    )
    assert choose_threshold(y, np.array([0.9, 0.8, 1.0, 0.2]), target_fpr=0.0) == 1.0
    with pytest.raises(ValueError, match="real"):
        choose_threshold(np.array([True]), np.array([0.5]), target_fpr=0.01)
    with pytest.raises(ValueError, match="target_fpr"):
        choose_threshold(y, np.array([0.9, 0.8, 0.1, 0.2]), target_fpr=1.5)


def test_ece_of_calibrated_and_overconfident_scores() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(100_000)
    calibrated = rng.random(100_000) < p
    assert expected_calibration_error(calibrated, p) < 0.01
    # Says 0.99 or 0.01 but is right only 70 % of the time.
    truth = rng.random(100_000) < 0.5
    right = rng.random(100_000) < 0.7
    said = np.where(truth == right, 0.99, 0.01)
    assert expected_calibration_error(truth, said) > 0.1
    assert expected_calibration_error(truth, said) == pytest.approx(0.29, abs=0.01)


def test_three_classes() -> None:
    names = ("REAL", "AI", "DEEPFAKE")
    labels = ["REAL", "AI", "DEEPFAKE", "DEEPFAKE", "REAL"]
    probs = np.array(
        [
            [0.8, 0.1, 0.1],  # REAL
            [0.1, 0.7, 0.2],  # AI
            [0.2, 0.3, 0.5],  # DEEPFAKE
            [0.3, 0.5, 0.2],  # AI (wrong class, right binary call)
            [0.4, 0.5, 0.1],  # AI (false positive: p_ai 0.6)
        ]
    )
    m = compute_metrics(labels, probs, class_names=names, real_class="REAL", threshold=0.5)
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert m["multiclass_accuracy"] == pytest.approx(3 / 5)
    assert m["class_names"] == list(names)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 1]]
    assert m["roc_auc"] == pytest.approx(roc_auc_score([0, 1, 1, 1, 0], 1 - probs[:, 0]))


def test_predicted_labels_follow_the_threshold_then_the_top_non_real_class() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.3, 0.2, 0.5], [0.45, 0.5, 0.05]])
    got = predicted_labels(probs, class_names=("REAL", "AI", "DF"), real_class="REAL", threshold=0.5)
    assert got.tolist() == ["REAL", "DF", "AI"]


def test_single_class_subset_does_not_crash() -> None:
    m = compute_metrics(
        ["FAKE"] * 5, binary_probs(np.array([0.9, 0.8, 0.4, 0.7, 0.6])), threshold=0.5, **BINARY
    )
    assert m["recall"] == pytest.approx(0.8)
    assert m["roc_auc"] is None and m["average_precision"] is None and m["tpr_at_fpr_5pct"] is None
    assert m["false_positive_rate"] is None
    assert any("only AI" in note for note in m["notes"])
    json.dumps(m, allow_nan=False)


def test_empty_and_unknown_labels() -> None:
    empty = compute_metrics([], np.zeros((0, 2)), threshold=0.5, **BINARY)
    assert empty["n"] == 0 and empty["accuracy"] is None and empty["ece"] is None
    json.dumps(empty, allow_nan=False)
    m = compute_metrics(["SD", "REAL"], binary_probs(np.array([0.9, 0.1])), threshold=0.5, **BINARY)
    assert m["class_names"] == ["FAKE", "REAL", "SD"]
    assert m["recall"] == 1.0  # an unknown label is not the real class, so it counts as AI
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(["REAL"], np.zeros((2, 2)), threshold=0.5, **BINARY)
