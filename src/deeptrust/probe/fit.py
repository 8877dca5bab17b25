"""A ridge probe fitted from per-group sufficient statistics, so leaving a group out costs one solve.

Each image patch is a row ``x`` (pooled tap features) with target ``y = +1`` (generated) or ``-1``
(real). Every group (a source, or a generator within a source) carries total weight 1, and the two
classes weigh the same, so a big source cannot dominate the fit and no group's size is a feature.
A group's weighted sums (Σw, Σwx, Σwxxᵀ, Σwyx, Σwy) are computed once; any subset of groups is then
fitted exactly — standardisation included — by adding sums and solving one D × D system.
Ridge on ±1 targets is a linear discriminant; a logistic (Platt) calibration on held-out data then
maps its score to a probability, and :func:`to_head` folds standardisation, weights and calibration
into one linear layer with two logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroupStats:
    label: int  # 1 generated, 0 real
    n: int  # rows
    w: float
    sx: np.ndarray  # (D,)
    sxx: np.ndarray  # (D, D)
    sxy: np.ndarray  # (D,)
    sy: float


def group_stats(x: np.ndarray, label: int) -> GroupStats:
    """Sums over one group's rows, each row weighted 1/n (the group's total weight is 1)."""
    x = np.asarray(x, np.float64)
    w = 1.0 / len(x)
    y = 1.0 if label else -1.0
    sx = x.sum(0) * w
    return GroupStats(label, len(x), 1.0, sx, (x.T @ x) * w, sx * y, y)


@dataclass(frozen=True)
class Probe:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # on standardised features
    intercept: float
    calib: tuple[float, float] = (1.0, 0.0)  # logit = a * score + b

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def logit(self, x: np.ndarray) -> np.ndarray:
        a, b = self.calib
        return a * self.score(x) + b

    def p_ai(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))


def fit(groups: list[GroupStats], *, alpha: float) -> Probe:
    """Ridge on the union of ``groups``, each class rescaled to total weight 1."""
    per_class = {c: [g for g in groups if g.label == c] for c in (0, 1)}
    if not per_class[0] or not per_class[1]:
        raise ValueError("a probe needs at least one real and one generated group")
    scale = {c: 0.5 / len(gs) for c, gs in per_class.items()}
    w = sum(scale[g.label] * g.w for g in groups)
    sx = sum(scale[g.label] * g.sx for g in groups) / w
    sxx = sum(scale[g.label] * g.sxx for g in groups) / w
    sxy = sum(scale[g.label] * g.sxy for g in groups) / w
    sy = sum(scale[g.label] * g.sy for g in groups) / w
    cov = sxx - np.outer(sx, sx)
    std = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    corr = cov / np.outer(std, std)
    cxy = (sxy - sx * sy) / std
    d = len(std)
    coef = np.linalg.solve(corr + alpha * np.eye(d), cxy)
    return Probe(mean=sx, scale=std, coef=coef, intercept=float(sy))


def calibrate(probe: Probe, scores: np.ndarray, labels: np.ndarray) -> Probe:
    """Platt scaling on held-out image scores (labels 1 = generated), classes weighted equally."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    weight = np.where(labels == 1, 0.5 / max(1, labels.sum()), 0.5 / max(1, (labels == 0).sum()))
    lr = LogisticRegression(C=1e4).fit(
        np.asarray(scores).reshape(-1, 1), labels, sample_weight=weight * len(labels)
    )
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return Probe(probe.mean, probe.scale, probe.coef, probe.intercept, (a * 1.0, b))


def to_head(probe: Probe, *, fake_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(weight (2, D), bias (2,)) of a linear layer whose softmax gives p_ai = sigmoid(logit)."""
    a, b = probe.calib
    w = a * probe.coef / probe.scale
    bias = a * (probe.intercept - float(probe.mean / probe.scale @ probe.coef)) + b
    weight = np.zeros((2, len(w)))
    bias2 = np.zeros(2)
    weight[fake_index], bias2[fake_index] = w / 2, bias / 2
    weight[1 - fake_index], bias2[1 - fake_index] = -w / 2, -bias / 2
    return weight.astype(np.float32), bias2.astype(np.float32)
