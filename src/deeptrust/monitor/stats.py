"""Two-sample drift statistics with permutation-calibrated thresholds (numpy + scipy only).

* Binned signals (scores and numeric properties at the reference's deciles, categorical properties by
  value): the population stability index (PSI) between the reference's and the window's histograms.
  Its null distribution comes from permutations of the pooled sample — for histograms a permutation is
  a multivariate hypergeometric draw of the window's counts from the pooled counts, so thousands cost
  well under a millisecond.
* Embeddings: the maximum mean discrepancy (MMD²) with a Gaussian kernel, approximated by random Fourier
  features (Rahimi & Recht), so a statistic is a difference of two mean vectors and a permutation is one
  matrix product.

A threshold must hold at a tiny level (a test every few seconds for a day), far below what a few
thousand permutations resolve, so the permuted statistics are moment-matched by a gamma distribution
(as for the MMD null in Gretton et al., 2009) and the threshold is its upper ``alpha`` quantile (never
below the largest permuted value).

The null is that the window comes from the reference's distribution, so the pooled sample the
permutations split is the reference plus a window-sized sample *of the reference* (its expected counts
for histograms, a bootstrap sample for embeddings). The threshold then depends only on the reference
and the window's size: :class:`Thresholds` computes it once per (signal, size) and caches it, and a
test in the service is a PSI or an MMD² and a lookup (well under a millisecond), instead of thousands
of permutations every few seconds. It is also the more powerful choice: a drifted window never inflates
its own threshold, as permuting it with the reference would.
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
    from scipy.special import gammainccinv  # type: ignore[import-untyped]

    shape, scale = mean * mean / var, var / mean
    return max(top, float(scale * gammainccinv(shape, alpha)))


def binned_null(pooled: np.ndarray, m: int, *, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """PSI of ``permutations`` random splits of ``pooled`` counts into (rest, m): a permutation of
    a histogram's items is a multivariate hypergeometric draw of the window's counts."""
    pooled = np.asarray(pooled, np.int64)
    drawn = rng.multivariate_hypergeometric(pooled, m, size=permutations)
    return psi(pooled[None, :] - drawn, drawn)


def expected_counts(reference: np.ndarray, m: int) -> np.ndarray:
    """``m`` items spread over the bins in the reference's proportions (largest remainders)."""
    reference = np.asarray(reference, np.float64)
    exact = m * reference / max(reference.sum(), 1.0)
    counts = np.floor(exact).astype(np.int64)
    short = m - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def binned_threshold(
    reference: np.ndarray, m: int, *, alpha: float, permutations: int, rng: np.random.Generator
) -> float:
    """The PSI threshold for windows of ``m`` items drawn from the reference's distribution."""
    reference = np.asarray(reference, np.int64)
    null = binned_null(reference + expected_counts(reference, m), m, permutations=permutations, rng=rng)
    return gamma_threshold(null, alpha)


def binned_test(
    reference: np.ndarray,
    window: np.ndarray,
    *,
    threshold: float | None = None,
    alpha: float = 1e-6,
    permutations: int = 2000,
    rng: np.random.Generator | None = None,
) -> TestResult:
    """PSI of two histograms over the same bins against ``threshold`` (computed when not given)."""
    reference = np.asarray(reference, np.int64)
    window = np.asarray(window, np.int64)
    m = int(window.sum())
    if threshold is None:
        rng = rng or np.random.default_rng()
        threshold = binned_threshold(reference, m, alpha=alpha, permutations=permutations, rng=rng)
    return TestResult(
        statistic=float(psi(reference, window)),
        threshold=threshold,
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


def mmd_null(
    reference: np.ndarray, window: np.ndarray, *, permutations: int, rng: np.random.Generator
) -> np.ndarray:
    """MMD² of ``permutations`` random splits of the pooled samples (random Fourier features) into
    groups of their two sizes."""
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
    return null


def mmd_threshold(
    reference: np.ndarray, m: int, *, alpha: float, permutations: int, rng: np.random.Generator
) -> float:
    """The MMD² threshold for windows of ``m`` points drawn from the reference's distribution: the
    reference pooled with a bootstrap sample of itself, permuted."""
    reference = np.asarray(reference, np.float32)
    boot = reference[rng.integers(0, len(reference), m)]
    return gamma_threshold(mmd_null(reference, boot, permutations=permutations, rng=rng), alpha)


def mmd_statistic(reference: np.ndarray, window: np.ndarray) -> float:
    diff = np.asarray(window).mean(axis=0, dtype=np.float64) - np.asarray(reference).mean(
        axis=0, dtype=np.float64
    )
    return float(diff @ diff)


def mmd_test(
    reference: np.ndarray,
    window: np.ndarray,
    *,
    threshold: float | None = None,
    alpha: float = 1e-6,
    permutations: int = 2000,
    rng: np.random.Generator | None = None,
) -> TestResult:
    """MMD² of two samples already mapped to random Fourier features against ``threshold``."""
    if threshold is None:
        rng = rng or np.random.default_rng()
        threshold = mmd_threshold(reference, len(window), alpha=alpha, permutations=permutations, rng=rng)
    return TestResult(
        statistic=mmd_statistic(reference, window),
        threshold=threshold,
        n_reference=len(reference),
        n_window=len(window),
    )


def size_step(m: int) -> int:
    """The largest size ≤ ``m`` on a geometric grid of 10 % steps from 20 (every size below 20). A
    window of ``m`` is tested with the threshold of that size: a smaller window's threshold is larger,
    so this only errs on the side of fewer alarms, while a window that fills from 100 to 500 needs 17
    thresholds instead of one per size it passes through."""
    if m <= 20:
        return m
    k = int(math.log(m / 20) / math.log(1.1) + 1e-9)
    while int(20 * 1.1 ** (k + 1)) <= m:
        k += 1
    while int(20 * 1.1**k) > m:
        k -= 1
    return int(20 * 1.1**k)


class Thresholds:
    """Thresholds of one profile per (signal, window size), computed on first need and kept; sizes are
    rounded down to :func:`size_step`, except ``exact`` (the full window), which gets its own."""

    def __init__(self, *, alpha: float, permutations: int, seed: int = 0, exact: int | None = None):
        self.alpha, self.permutations, self.exact = alpha, permutations, exact
        self.rng = np.random.default_rng(seed)
        self._cache: dict[tuple[str, int], float] = {}

    def _size(self, m: int) -> int:
        return m if m == self.exact else size_step(m)

    def binned(self, signal: str, reference: np.ndarray, m: int) -> float:
        m = self._size(m)
        key = (signal, m)
        if key not in self._cache:
            self._cache[key] = binned_threshold(
                reference, m, alpha=self.alpha, permutations=self.permutations, rng=self.rng
            )
        return self._cache[key]

    def mmd(self, signal: str, reference: np.ndarray, m: int) -> float:
        m = self._size(m)
        key = (signal, m)
        if key not in self._cache:
            self._cache[key] = mmd_threshold(
                reference, m, alpha=self.alpha, permutations=self.permutations, rng=self.rng
            )
        return self._cache[key]
