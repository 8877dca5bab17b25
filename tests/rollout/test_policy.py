"""The abort policy: each limit trips alone, nothing is judged before min_requests, 0 or 1 turns one off."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge

from deeptrust.rollout.policy import Reading, drift_from_registry, judge, read
from deeptrust.rollout.state import Thresholds
from deeptrust.rollout.window import Window

LIMITS = Thresholds(min_requests=10, max_error_rate=0.05, max_p95_ms=100, max_disagreement=0.2)


def reading(attempts=50, error_rate=0.0, p95_s=0.02, compared=50, disagreement=0.0) -> Reading:
    return Reading(attempts, error_rate, p95_s, compared, disagreement)


def test_a_healthy_canary_passes():
    assert judge(reading(), LIMITS) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"error_rate": 0.06}, "error_rate"),
        ({"p95_s": 0.101}, "p95"),
        ({"disagreement": 0.25}, "disagreement"),
    ],
)
def test_each_limit_trips(changes, reason):
    breach = judge(reading(**changes), LIMITS)
    assert breach is not None and breach.reason == reason
    assert "over the last 60 s (50 canary requests)" in breach.detail


def test_nothing_is_judged_before_min_requests():
    assert judge(reading(attempts=9, error_rate=1.0, p95_s=9.0, disagreement=1.0), LIMITS) is None
    assert judge(reading(attempts=10, error_rate=1.0), LIMITS).reason == "error_rate"


def test_disagreement_needs_enough_compared_images():
    assert judge(reading(compared=5, disagreement=1.0), LIMITS) is None


def test_limits_turn_off():
    off = Thresholds(min_requests=1, max_error_rate=1.0, max_p95_ms=0, max_disagreement=1.0)
    assert judge(reading(error_rate=1.0, p95_s=60.0, disagreement=1.0), off) is None


def test_drift_trips_only_when_asked():
    assert judge(reading(), LIMITS, drift="scores").reason == "drift"
    no_drift = Thresholds(min_requests=10, abort_on_drift=False)
    assert judge(reading(), no_drift, drift="scores") is None


def test_drift_is_read_from_the_registry_by_model_version():
    registry = CollectorRegistry()
    gauge = Gauge("deeptrust_drift_detected", "", ["model", "version", "signal"], registry=registry)
    check = drift_from_registry(registry)
    photos = {"name": "photos", "version": "2.0.0"}
    assert check(photos) is None
    gauge.labels("photos", "1.0.0", "scores").set(1)  # another version drifting
    gauge.labels("photos", "2.0.0", "embedding").set(0)
    assert check(photos) is None
    gauge.labels("photos", "2.0.0", "embedding").set(1)
    assert check(photos) == "embedding"


def test_read_summarises_the_windows():
    attempts, latency, disagree = Window(60), Window(60), Window(60)
    for i in range(20):
        attempts.add(1.0 if i < 2 else 0.0)
        latency.add(0.010 if i < 19 else 1.0)
        disagree.add(1.0 if i % 4 == 0 else 0.0)
    r = read(attempts, latency, disagree)
    assert (r.attempts, r.compared) == (20, 20)
    assert r.error_rate == pytest.approx(0.1) and r.disagreement == pytest.approx(0.25)
    assert 0.010 < r.p95_s < 1.0


def test_a_window_forgets_what_is_older_than_its_horizon():
    now = [0.0]
    window = Window(10, clock=lambda: now[0])
    window.add(1.0)
    now[0] = 5.0
    window.add(0.0)
    assert window.count() == 2
    now[0] = 10.5
    assert window.values().tolist() == [0.0]
