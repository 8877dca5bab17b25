"""Two-sample drift statistics with permutation-calibrated thresholds (numpy + scipy only).

* Binned signals (scores and numeric properties at the reference's deciles, categorical properties by
  value): the population stability index (PSI) between the reference's and the window's histograms.
  Its null distribution comes from permutations of the pooled sample — for histograms a permutation is
  a multivariate hypergeometric draw of the window's counts from the pooled counts, so thousands cost
  well under a millisecond.
* Embeddings: the maximum mean discrepancy (MMD²) with a Gaussian kernel, approximated by random Fourier
  features (Rahimi & Recht), so a statistic is a difference of two mean vectors and a permutation is one
  matrix product.

A threshold must hold at a tiny level (a test every few seconds for a day), far below what a few hundred
permutations resolve, so the permuted statistics are moment-matched by a gamma distribution (as for the
MMD null in Gretton et al., 2009) and the threshold is its upper ``alpha`` quantile (never below the
largest permuted value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TestResult:
    statistic: float
    threshold: float
    n_reference: int
    n_window: int

    @property
    def detected(self) -> bool:
        return self.statistic > self.threshold


def psi(reference: np.ndarray, window: np.ndarray) -> np.ndarray:
    """PSI between count vectors (last axis = bins); half a count is added to every bin (no log 0)."""
    reference = np.asarray(reference, np.float64) + 0.5
    window = np.asarray(window, np.float64) + 0.5
    p = reference / reference.sum(axis=-1, keepdims=True)
    q = window / window.sum(axis=-1, keepdims=True)
    return ((q - p) * np.log(q / p)).sum(axis=-1)


def gamma_threshold(null: np.ndarray, alpha: float) -> float:
    """Upper ``alpha`` quantile of a gamma fitted to ``null`` by its mean and variance."""
    null = np.asarray(null, np.float64)
    mean, var = float(null.mean()), float(null.var())
    top = float(null.max())
    if mean <= 0 or var <= 0:  # a degenerate null (one category on both sides): any change is drift
        return top * (1 + 1e-6) + 1e-12
    # scipy.special, not scipy.stats (whose import takes seconds); in the serve extra, imported here.
    from scipy.special import gammainccinv

    shape, scale = mean * mean / var, var / mean
    return max(top, float(scale * gammainccinv(shape, alpha)))


def binned_test(
    reference: np.ndarray,
    window: np.ndarray,
    *,
    alpha: float,
    permutations: int,
    rng: np.random.Generator,
) -> TestResult:
    """PSI of two histograms over the same bins, thresholded on its permutation null."""
    reference = np.asarray(reference, np.int64)
    window = np.asarray(window, np.int64)
    pooled = reference + window
    m = int(window.sum())
    drawn = rng.multivariate_hypergeometric(pooled, m, size=permutations)
    null = psi(pooled[None, :] - drawn, drawn)
    return TestResult(
        statistic=float(psi(reference, window)),
        threshold=gamma_threshold(null, alpha),
        n_reference=int(reference.sum()),
        n_window=m,
    )


@dataclass(frozen=True)
class FourierFeatures:
    """Random Fourier features of a Gaussian kernel exp(-|x-y|² / (2 h²)) on d-dimensional points."""

    omega: np.ndarray  # (d, D)
    phase: np.ndarray  # (D,)

    @classmethod
    def create(cls, dim: int, bandwidth: float, *, features: int = 64, seed: int = 0) -> FourierFeatures:
        rng = np.random.default_rng(seed)
        omega = rng.standard_normal((dim, features)) / max(bandwidth, 1e-12)
        return cls(omega=omega, phase=rng.uniform(0, 2 * math.pi, features))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        scale = math.sqrt(2.0 / self.omega.shape[1])
        return (scale * np.cos(np.asarray(x, np.float64) @ self.omega + self.phase)).astype(np.float32)


def median_bandwidth(x: np.ndarray, *, limit: int = 500, seed: int = 0) -> float:
    """The median heuristic: the median pairwise distance of (a sample of) the reference points."""
    x = np.asarray(x, np.float64)
    if len(x) > limit:
        x = x[np.random.default_rng(seed).choice(len(x), limit, replace=False)]
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    upper = d2[np.triu_indices(len(x), k=1)]
    return float(math.sqrt(np.median(upper))) if len(upper) else 1.0


def mmd_test(
    reference: np.ndarray,
    window: np.ndarray,
    *,
    alpha: float,
    permutations: int,
    rng: np.random.Generator,
) -> TestResult:
    """MMD² of two samples already mapped to random Fourier features, on its permutation null."""
    reference = np.asarray(reference, np.float32)
    window = np.asarray(window, np.float32)
    n, m = len(reference), len(window)
    pooled = np.concatenate([reference, window])
    total = pooled.sum(axis=0)
    null = np.empty(permutations)
    chunk = 128  # (chunk, n + m) indicator matrices: bounded memory
    for start in range(0, permutations, chunk):
        b = min(chunk, permutations - start)
        chosen = np.argpartition(rng.random((b, n + m)), m, axis=1)[:, :m]
        indicator = np.zeros((b, n + m), np.float32)
        np.put_along_axis(indicator, chosen, 1.0, axis=1)
        in_window = indicator @ pooled
        diff = in_window / m - (total[None, :] - in_window) / n
        null[start : start + b] = (diff * diff).sum(axis=1)
    diff = window.mean(axis=0, dtype=np.float64) - reference.mean(axis=0, dtype=np.float64)
    return TestResult(
        statistic=float(diff @ diff),
        threshold=gamma_threshold(null, alpha),
        n_reference=n,
        n_window=m,
    )
