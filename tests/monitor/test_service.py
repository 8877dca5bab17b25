"""Drift in the running service: windows fill from real requests, the background tester sets the
gauges, ``/readyz`` and ``drift_state`` report it; an old card without a profile says so and serves."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deeptrust.monitor import drift_state
from deeptrust.serve.app import create_app
from tests.monitor.conftest import image_paths
from tests.serve.conftest import make_settings


def _gauges(client: TestClient, name: str) -> dict[tuple[str, ...], float]:
    text = client.get("/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def _send(client: TestClient, paths: list[str]) -> None:
    for p in paths:
        body = Path(p).read_bytes()
        kind = "image/png" if p.endswith(".png") else "image/jpeg"
        assert client.post("/v1/predict", content=body, headers={"Content-Type": kind}).status_code == 200


def _wait_tested(client: TestClient, model: str, version: str, size: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = drift_state(model, version)
        if state.window_size >= size and state.evaluated_at and state.status in ("ok", "drift"):
            return state.to_dict()
        time.sleep(0.05)
    raise AssertionError(f"no drift test ran: {drift_state(model, version)}")


def test_switch_to_other_images_is_detected_and_exported(profiled_model, same_folder, drifted_folder):
    settings = make_settings(
        model=str(profiled_model),
        drift_window=60,
        drift_min_window=60,
        drift_interval_s=0.05,
        drift_permutations=100,
    )
    with TestClient(create_app(settings)) as client:
        _send(client, image_paths(same_folder)[::2])  # 60 images like the reference
        state = _wait_tested(client, "cifake", "1.0.0", 60)
        assert state["status"] == "ok", state
        detected = _gauges(client, "deeptrust_drift_detected")
        signals = {dict(k)["signal"] for k in detected}
        assert {"score", "embedding", "width", "format", "jpeg_quality", "mode", "metadata"} <= signals
        assert set(detected.values()) == {0.0}
        assert _gauges(client, "deeptrust_drift_window_size") == {
            (("model", "cifake"), ("version", "1.0.0")): 60.0
        }

        first = state["evaluated_at"]
        _send(client, image_paths(drifted_folder)[::2])  # the window is now all 48×48 PNGs
        deadline = time.monotonic() + 20
        while drift_state("cifake", "1.0.0").evaluated_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
        state = drift_state("cifake", "1.0.0")
        assert state.detected and {"width", "height", "format", "jpeg_quality", "embedding"} <= set(
            state.drifting
        )
        detected = _gauges(client, "deeptrust_drift_detected")
        by_signal = {dict(k)["signal"]: v for k, v in detected.items()}
        assert by_signal["width"] == by_signal["format"] == by_signal["embedding"] == 1.0
        stats = {dict(k)["signal"]: v for k, v in _gauges(client, "deeptrust_drift_statistic").items()}
        thresholds = {dict(k)["signal"]: v for k, v in _gauges(client, "deeptrust_drift_threshold").items()}
        assert stats["width"] > thresholds["width"] > 0
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["drift"]["cifake@1.0.0"]["status"] == "drift"


def test_a_card_without_a_profile_says_so_and_keeps_serving(same_folder, caplog):
    with TestClient(create_app(make_settings(drift_interval_s=0.05))) as client:  # the shipped cifake card
        _send(client, image_paths(same_folder)[:5])
        ready = client.get("/readyz")
        assert ready.status_code == 200
        drift = ready.json()["drift"]["cifake@1.0.0"]
        assert drift["status"] == "no-profile" and "deeptrust monitor profile" in drift["message"]
        assert _gauges(client, "deeptrust_drift_reference_present") == {
            (("model", "cifake"), ("version", "1.0.0")): 0.0
        }
        assert _gauges(client, "deeptrust_drift_detected") == {}
        assert drift_state("cifake", "1.0.0").status == "no-profile"
    assert any("drift not monitored" in r.getMessage() for r in caplog.records)
    assert drift_state("other", "9").status == "unknown"
