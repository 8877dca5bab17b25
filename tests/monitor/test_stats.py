"""The statistics: thresholds hold their level on unchanged data and a real shift crosses them."""

from __future__ import annotations

import numpy as np

from deeptrust.monitor.stats import (
    FourierFeatures,
    Thresholds,
    binned_test,
    gamma_threshold,
    median_bandwidth,
    mmd_test,
    psi,
)


def test_psi_is_zero_for_equal_histograms_and_grows_with_the_shift():
    ref = np.array([100, 100, 100, 100])
    assert psi(ref, ref) == 0.0
    assert 0 < psi(ref, np.array([110, 90, 100, 100])) < psi(ref, np.array([200, 50, 50, 100]))


def test_binned_threshold_holds_its_level_and_detects_a_shift():
    rng = np.random.default_rng(0)
    p = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    alarms = sum(  # a fresh reference and window each time: the level is over both samples
        binned_test(
            rng.multinomial(800, p), rng.multinomial(300, p), alpha=0.01, permutations=400, rng=rng
        ).detected
        for _ in range(300)
    )
    ref = rng.multinomial(800, p)
    assert alarms <= 9  # 1 % of 300 is 3; the gamma tail is a little conservative, never far off
    shifted = rng.multinomial(300, [0.3, 0.2, 0.2, 0.15, 0.15])
    assert binned_test(ref, shifted, alpha=1e-6, permutations=400, rng=rng).detected


def test_a_category_the_reference_never_had_is_drift_even_on_a_degenerate_null():
    rng = np.random.default_rng(0)
    ref = np.array([500, 0])  # one format only, plus the empty (other) bin
    assert not binned_test(ref, np.array([200, 0]), alpha=1e-6, permutations=200, rng=rng).detected
    assert binned_test(ref, np.array([180, 20]), alpha=1e-6, permutations=200, rng=rng).detected


def test_gamma_threshold_is_never_below_the_largest_permuted_value():
    null = np.random.default_rng(0).gamma(2.0, 1.0, 500)
    assert gamma_threshold(null, 0.5) >= null.max()
    assert gamma_threshold(null, 1e-6) > gamma_threshold(null, 1e-3) > np.quantile(null, 0.99)


def test_mmd_holds_its_level_and_detects_a_mean_shift():
    rng = np.random.default_rng(1)
    phi = FourierFeatures.create(4, median_bandwidth(rng.standard_normal((300, 4))))
    alarms = sum(
        mmd_test(
            phi(rng.standard_normal((300, 4))), phi(rng.standard_normal((150, 4))),
            alpha=0.01, permutations=200, rng=rng,
        ).detected
        for _ in range(60)
    )  # fmt: skip
    ref = rng.standard_normal((300, 4))
    assert alarms <= 3
    moved = rng.standard_normal((150, 4)) + np.array([1.0, 0, 0, 0])
    assert mmd_test(phi(ref), phi(moved), alpha=1e-6, permutations=200, rng=rng).detected


def test_thresholds_are_computed_once_per_signal_and_window_size():
    thresholds = Thresholds(alpha=1e-6, permutations=200)
    ref = np.array([300, 200, 100, 0])
    first = thresholds.binned("score", ref, 100)
    assert thresholds.binned("score", ref, 100) == first  # cached, not drawn again
    assert thresholds.binned("score", ref, 400) < first  # a larger window varies less
