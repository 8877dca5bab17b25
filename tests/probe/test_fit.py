"""The ridge probe: fitting from per-group sums is the weighted ridge it claims, and the folded head
computes the same probabilities as the probe."""

from __future__ import annotations

import numpy as np
import pytest

from deeptrust.probe.fit import calibrate, fit, group_stats, to_head


def make_groups(rng: np.random.Generator, d: int = 6):
    groups = []
    for label, sizes in ((0, (40, 7, 90)), (1, (15, 60))):
        for n in sizes:
            shift = rng.normal(0, 1, d) + (1.5 if label else 0.0)
            groups.append((rng.normal(shift, 1 + rng.random(), (n, d)) * rng.uniform(0.5, 50, d), label))
    return groups


def direct_ridge(groups, alpha: float):
    """Weighted least squares written out: each group weight 1/n, classes rescaled to equal totals."""
    n_class = {c: sum(1 for _, lab in groups if lab == c) for c in (0, 1)}
    x = np.concatenate([g for g, _ in groups])
    y = np.concatenate([np.full(len(g), 1.0 if lab else -1.0) for g, lab in groups])
    w = np.concatenate([np.full(len(g), 1.0 / len(g) / n_class[lab]) for g, lab in groups])
    w /= w.sum()
    mean = w @ x
    std = np.sqrt(w @ (x - mean) ** 2)
    z = (x - mean) / std
    ym = w @ y
    coef = np.linalg.solve((z * w[:, None]).T @ z + alpha * np.eye(x.shape[1]), (z * w[:, None]).T @ (y - ym))
    return mean, std, coef, ym


def test_fit_from_group_sums_equals_the_written_out_weighted_ridge():
    rng = np.random.default_rng(0)
    groups = make_groups(rng)
    probe = fit([group_stats(g, lab) for g, lab in groups], alpha=0.3)
    mean, std, coef, intercept = direct_ridge(groups, 0.3)
    assert np.allclose(probe.mean, mean) and np.allclose(probe.scale, std)
    assert np.allclose(probe.coef, coef, atol=1e-8)
    assert probe.intercept == pytest.approx(intercept)


def test_leaving_a_group_out_is_the_fit_without_it():
    rng = np.random.default_rng(1)
    groups = make_groups(rng)
    stats = [group_stats(g, lab) for g, lab in groups]
    without = fit(stats[:2] + stats[3:], alpha=0.1)
    refit = direct_ridge(groups[:2] + groups[3:], 0.1)
    assert np.allclose(without.coef, refit[2], atol=1e-8)
    assert not np.allclose(without.coef, fit(stats, alpha=0.1).coef)


def test_the_folded_head_gives_the_probes_probabilities():
    rng = np.random.default_rng(2)
    groups = make_groups(rng)
    probe = fit([group_stats(g, lab) for g, lab in groups], alpha=0.1)
    x = np.concatenate([g for g, _ in groups])
    labels = np.concatenate([np.full(len(g), lab) for g, lab in groups])
    probe = calibrate(probe, probe.score(x), labels)
    assert probe.calib != (1.0, 0.0)
    weight, bias = to_head(probe, fake_index=0)
    logits = x @ weight.T.astype(np.float64) + bias
    e = np.exp(logits - logits.max(1, keepdims=True))
    p_fake = (e / e.sum(1, keepdims=True))[:, 0]
    assert np.allclose(p_fake, probe.p_ai(x), atol=1e-5)
    # and it separates the classes it was fitted on
    assert p_fake[labels == 1].mean() > 0.7 > 0.3 > p_fake[labels == 0].mean()


def test_a_probe_needs_both_classes():
    x = np.random.default_rng(3).normal(size=(10, 3))
    with pytest.raises(ValueError, match="one real and one generated"):
        fit([group_stats(x, 1)], alpha=0.1)
