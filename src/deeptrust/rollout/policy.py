"""When a canary must stop by itself: its error rate, p95 latency, disagreement with the champion, or drift.

``judge`` is pure: it reads the canary's windows and returns the first breached limit (or None), so the
controller only acts on its answer and tests can feed it numbers. Drift is pluggable: ``drift_of_service``
asks the service's drift monitor (``deeptrust.monitor``) for the canary version's state, and without one
reads ``deeptrust_drift_detected{model,version,...}`` from the service's own metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from deeptrust.rollout.state import Thresholds
from deeptrust.rollout.window import Window

DriftCheck = Callable[[dict[str, str]], str | None]  # model {name, version} → a drift signal's name, or None
DRIFT_METRIC = "deeptrust_drift_detected"


@dataclass(frozen=True)
class Reading:
    """What the policy saw over the window (also exported as gauges)."""

    attempts: int
    error_rate: float | None
    p95_s: float | None
    compared: int
    disagreement: float | None


@dataclass(frozen=True)
class Breach:
    reason: str  # error_rate | p95 | disagreement | drift
    detail: str


def read(attempts: Window, latency: Window, disagreement: Window) -> Reading:
    outcomes, compared = attempts.values(), disagreement.values()
    return Reading(
        attempts=len(outcomes),
        error_rate=float(outcomes.mean()) if len(outcomes) else None,
        p95_s=latency.percentile(95),
        compared=len(compared),
        disagreement=float(compared.mean()) if len(compared) else None,
    )


def judge(
    reading: Reading, limits: Thresholds, *, drift: str | None = None, min_compared: int | None = None
) -> Breach | None:
    """The first limit the canary breaches, or None; nothing is judged before ``min_requests``."""
    if reading.attempts < limits.min_requests:
        return None
    window = f"over the last {limits.window_s:g} s ({reading.attempts} canary requests)"
    if reading.error_rate is not None and reading.error_rate > limits.max_error_rate:
        return Breach(
            "error_rate", f"error rate {reading.error_rate:.1%} > {limits.max_error_rate:.1%} {window}"
        )
    if limits.max_p95_ms > 0 and reading.p95_s is not None and reading.p95_s * 1e3 > limits.max_p95_ms:
        return Breach("p95", f"p95 {reading.p95_s * 1e3:.1f} ms > {limits.max_p95_ms:g} ms {window}")
    enough = reading.compared >= (limits.min_requests if min_compared is None else min_compared)
    if enough and reading.disagreement is not None and reading.disagreement > limits.max_disagreement:
        return Breach(
            "disagreement",
            f"labels differ from the champion's on {reading.disagreement:.1%} of {reading.compared} "
            f"images > {limits.max_disagreement:.1%} {window}",
        )
    if limits.abort_on_drift and drift is not None:
        return Breach("drift", f"drift detected on the canary's {drift}")
    return None


def drift_of_service(service: Any) -> DriftCheck:
    """The service's drift monitor (``deeptrust.monitor``: its state per model version) when it runs,
    else ``deeptrust_drift_detected`` read from the service's registry."""
    from_registry = drift_from_registry(service.metrics.registry)

    def check(model: dict[str, str]) -> str | None:
        try:
            from deeptrust.monitor.serve import monitor_of
        except ImportError:  # pragma: no cover - the monitor ships with the service
            return from_registry(model)
        monitor = monitor_of(service)
        if monitor is None:
            return from_registry(model)
        state = monitor.state(model["name"], model["version"])
        return ", ".join(state.drifting) or "drift" if state.detected else None

    return check


def drift_from_registry(registry: CollectorRegistry) -> DriftCheck:
    """A drift check reading ``deeptrust_drift_detected`` > 0 for the model version from ``registry``."""

    def check(model: dict[str, str]) -> str | None:
        for family in registry.collect():
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == DRIFT_METRIC
                    and sample.value > 0
                    and labels.get("model") == model["name"]
                    and labels.get("version") == model["version"]
                ):
                    return labels.get("signal", "signal")
        return None

    return check
