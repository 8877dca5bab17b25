"""Metrics for "AI vs real": positive = AI, score = p_ai = 1 − p(real class).

Everything returned is JSON-safe (floats, ints, lists, ``None``). A metric that is undefined on the
data — ROC-AUC on a subset holding one class, precision with no positive predictions — is ``None``
and a line in ``notes`` says why, so a per-source table never crashes on a generator-only source.

Non-goals: confidence intervals, multi-class ROC; the multi-class view is the confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

ECE_BINS = 15


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """ECE of ``p`` as the probability that ``y`` is 1, over ``bins`` equal-width bins on [0, 1].

    The mean over bins of |observed fraction of positives − mean predicted probability|, weighted by
    each bin's share of the samples. (This is the calibration of p_ai itself, not of the top class.)
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    _, counts, mean_p, frac_pos = reliability_bins(y, p, bins=bins)
    used = counts > 0
    gaps = np.abs(frac_pos[used] - mean_p[used])
    return float((gaps * counts[used]).sum() / counts.sum())


def reliability_bins(
    y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges, counts, mean predicted probability and observed positive fraction per bin.

    Bins are [0, 1/bins), …, [1 − 1/bins, 1]; empty bins hold NaN means.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=bins) / counts
        frac_pos = np.bincount(index, weights=y, minlength=bins) / counts
    return edges, counts, mean_p, frac_pos


def choose_threshold(y_ai: np.ndarray, p_ai: np.ndarray, *, target_fpr: float) -> float:
    """The smallest threshold t with FPR(t) <= ``target_fpr`` on these (validation) scores.

    An image is called AI when ``p_ai >= t``. With ``k = floor(target_fpr × n_real)`` false
    positives allowed, t is the smallest float32 above the (k+1)-th highest real score. Ties: every
    real image scoring exactly that value is kept below t, so when ties straddle the cut the
    achieved FPR is below the target rather than above it. The scores of an ONNX model are
    float32, so no score lies strictly between that real score and t: t is minimal. When no
    threshold in [0, 1] reaches the target (real images scoring exactly 1.0), returns 1.0, the
    strictest a card allows.
    """
    y = np.asarray(y_ai).astype(bool)
    p = np.asarray(p_ai, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"y_ai and p_ai must have the same shape, got {y.shape} and {p.shape}")
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must lie in [0, 1), got {target_fpr}")
    real = np.sort(p[~y])[::-1]
    if len(real) == 0:
        raise ValueError("choose_threshold needs real (negative) images to measure a false-positive rate")
    allowed = math.floor(target_fpr * len(real) + 1e-9)  # 1e-9: 0.29 × 100 must allow 29, not 28
    if allowed >= len(real):
        return 0.0
    cut = np.float32(real[allowed])
    if cut >= 1.0:
        return 1.0
    return float(max(np.nextafter(cut, np.float32(np.inf)), np.float32(0.0)))


def predicted_labels(
    probs: np.ndarray, *, class_names: Sequence[str], real_class: str, threshold: float
) -> np.ndarray:
    """Vectorised :meth:`deeptrust.detector.Detector.label_for`: real unless p_ai >= threshold,
    then the most likely non-real class."""
    real_index = list(class_names).index(real_class)
    p_ai = 1.0 - probs[:, real_index]
    masked = probs.astype(np.float64, copy=True)
    masked[:, real_index] = -1.0
    names = np.asarray(class_names, dtype=object)
    return np.where(p_ai < threshold, real_class, names[masked.argmax(axis=1)])


def compute_metrics(
    labels: Sequence[str],
    probs: np.ndarray,
    *,
    class_names: Sequence[str],
    real_class: str,
    threshold: float,
) -> dict[str, Any]:
    """All metrics of one set of images: ``labels`` (true class names) and ``probs`` (N, C)."""
    labels_arr = np.asarray(labels, dtype=object)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(labels_arr), len(class_names)):
        raise ValueError(f"probs must have shape ({len(labels_arr)}, {len(class_names)}), got {probs.shape}")
    y = labels_arr != real_class
    p_ai = 1.0 - probs[:, list(class_names).index(real_class)]
    notes: list[str] = []
    result: dict[str, Any] = {"n": len(labels_arr), "threshold": float(threshold)}
    result |= _threshold_metrics(y, p_ai >= threshold, notes)
    result |= _ranking_metrics(y, p_ai, notes)
    result["ece"] = _none_if_nan(expected_calibration_error(y, p_ai))
    predicted = predicted_labels(probs, class_names=class_names, real_class=real_class, threshold=threshold)
    result |= _confusion(labels_arr, predicted, class_names, notes)
    if notes:
        result["notes"] = notes
    return result


def _threshold_metrics(y: np.ndarray, pred: np.ndarray, notes: list[str]) -> dict[str, Any]:
    tp = int((y & pred).sum())
    fp = int((~y & pred).sum())
    fn = int((y & ~pred).sum())
    tn = int((~y & ~pred).sum())
    if tp + fp == 0:
        notes.append("precision undefined: no image was predicted AI")
    if tp + fn == 0:
        notes.append("recall undefined: no AI images")
    return {
        "accuracy": _ratio(tp + tn, len(y)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
    }


def _ranking_metrics(y: np.ndarray, p_ai: np.ndarray, notes: list[str]) -> dict[str, Any]:
    keys = ("roc_auc", "average_precision", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct")
    if y.all() or not y.any():
        what = f"only {'AI' if y.any() else 'real'} images" if len(y) else "no images"
        notes.append(f"ROC-AUC, average precision and TPR at FPR undefined: {what}")
        return dict.fromkeys(keys)
    fpr, tpr, _ = roc_curve(y, p_ai, drop_intermediate=False)
    return {
        "roc_auc": float(roc_auc_score(y, p_ai)),
        "average_precision": float(average_precision_score(y, p_ai)),
        "tpr_at_fpr_1pct": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr_at_fpr_5pct": tpr_at_fpr(fpr, tpr, 0.05),
    }


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """Highest TPR among the ROC points whose FPR is at most ``max_fpr``."""
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def _confusion(
    labels: np.ndarray, predicted: np.ndarray, class_names: Sequence[str], notes: list[str]
) -> dict[str, Any]:
    names = list(class_names)
    extra = sorted(set(labels.tolist()) - set(names))
    if extra:
        notes.append(f"labels {extra} are not model classes; counted as AI and added to the matrix")
    names += extra
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    rows = np.fromiter((index[t] for t in labels), dtype=np.int64, count=len(labels))
    cols = np.fromiter((index[p] for p in predicted), dtype=np.int64, count=len(predicted))
    np.add.at(matrix, (rows, cols), 1)
    out: dict[str, Any] = {"confusion_matrix": matrix.tolist(), "class_names": names}
    if len(class_names) > 2:
        out["multiclass_accuracy"] = _ratio(int((labels == predicted).sum()), len(labels))
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
