"""The service's statistics on a stored sample: the whole sample as one window, and optionally
consecutive windows of the service's size (what the gauges would have shown, replayed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from deeptrust.monitor.collect import Collected
from deeptrust.monitor.profile import SCORE_SIGNAL, Profile
from deeptrust.monitor.stats import Thresholds
from deeptrust.monitor.windows import test_window


def codes_of(profile: Profile, collected: Collected) -> dict[str, np.ndarray]:
    """Per signal, each image's bin under the profile."""
    values: dict[str, list[Any]] = {SCORE_SIGNAL: list(collected.p_ai)}
    for name in profile.signals:
        if name != SCORE_SIGNAL:
            values[name] = [p[name] for p in collected.properties]
    return {
        name: np.asarray([ref.code(v) for v in values[name]], np.int64)
        for name, ref in profile.signals.items()
    }


def projected_of(profile: Profile, collected: Collected) -> np.ndarray | None:
    emb = profile.embedding
    if emb is None or collected.embeddings is None or collected.embeddings.shape[1] != emb.dim:
        return None
    return emb.project(collected.embeddings)


def window_results(
    profile: Profile,
    codes: dict[str, np.ndarray],
    projected: np.ndarray | None,
    index: np.ndarray,
    *,
    thresholds: Thresholds,
) -> dict[str, dict[str, float]]:
    counts = {n: np.bincount(c[index], minlength=len(profile.signals[n].counts)) for n, c in codes.items()}
    emb = None if projected is None else projected[index]
    results = test_window(profile, counts, emb, thresholds=thresholds, min_window=min(2, len(index)))
    return {
        s: {"statistic": r.statistic, "threshold": r.threshold, "detected": r.detected}
        for s, r in results.items()
    }


def drift_report(
    profile: Profile,
    collected: Collected,
    *,
    alpha: float,
    permutations: int,
    window: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    thresholds = Thresholds(alpha=alpha, permutations=permutations, seed=seed)
    codes = codes_of(profile, collected)
    projected = projected_of(profile, collected)
    n = len(collected.p_ai)
    signals = window_results(profile, codes, projected, np.arange(n), thresholds=thresholds)
    result: dict[str, Any] = {
        "n": n,
        "reference_n": profile.n,
        "alpha": alpha,
        "signals": signals,
        "drifting": [s for s, r in signals.items() if r["detected"]],
        "unreadable": len(collected.errors),
        "_codes": codes,
        "_projected": projected,
    }
    if window is not None and n >= window:
        result["window"] = window
        result["windows"] = []
        for start in range(0, n - window + 1, window):
            w = window_results(
                profile, codes, projected, np.arange(start, start + window),
                thresholds=thresholds,
            )  # fmt: skip
            result["windows"].append(
                {"start": start, "signals": w, "drifting": [s for s, r in w.items() if r["detected"]]}
            )
    return result
