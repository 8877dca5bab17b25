"""The rollout through the admin API, in process: bad input, canary routing, fallback, automatic abort,
shadow comparison, promotion and the per-version metrics."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from fastapi.testclient import TestClient

import deeptrust.settings
from deeptrust.monitor.windows import DriftState
from deeptrust.serve.app import create_app

from .conftest import jpeg_bytes, make_settings

JPEG = {"content-type": "image/jpeg"}
QUICK = {"min_requests": 5, "max_p95_ms": 0, "max_disagreement": 1}  # judge early; only what a test trips


@pytest.fixture
def admin():
    with TestClient(create_app(make_settings(local_admin=True))) as c:
        yield c


def start(client, model="photos-1.0", mode="canary", share=0.5, **abort):
    return client.post(
        "/v1/rollout", json={"model": model, "mode": mode, "share": share, "abort": QUICK | abort}
    )


def predict(client, seed: int) -> dict:
    r = client.post("/v1/predict", content=jpeg_bytes(seed=seed), headers=JPEG)
    assert r.status_code == 200, r.text
    return r.json()


def sample(client, metric: str, **labels: str) -> float:
    registry = client.app.state.service.metrics.registry
    return registry.get_sample_value(metric, labels) or 0.0


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_body(model="photos", mode="canary", share=0.1, **extra):
    return {"model": model, "mode": mode, "share": share, **extra}


@pytest.mark.parametrize(
    ("body", "status", "type_", "says"),
    [
        (
            start_body("no-such-model"),
            404,
            "unknown-model",
            "unknown challenger: no model named or at 'no-such-model'",
        ),
        (start_body("/etc"), 422, "model-not-allowed", "outside the model search paths"),
        (start_body(share=1.5), 422, "validation-error", "share: Input should be less than or equal to 1"),
        (start_body(mode="shadow", share=-0.1), 422, "validation-error", "greater than or equal to 0"),
        (start_body(mode="blue-green"), 422, "validation-error", "Input should be 'shadow' or 'canary'"),
        (start_body(abort={"max_error_rate": 2}), 422, "validation-error", "max_error_rate"),
    ],
)
def test_bad_starts_are_clear_problems(admin, body, status, type_, says):
    r = admin.post("/v1/rollout", json=body)
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith(type_) and says in r.json()["detail"], r.json()
    assert admin.get("/v1/rollout").json()["state"] == "idle"  # nothing half-started


@pytest.mark.parametrize("verb", ["promote", "abort"])
def test_promote_or_abort_with_nothing_running_is_409(admin, verb):
    r = admin.post(f"/v1/rollout/{verb}")
    assert r.status_code == 409 and r.json()["type"].endswith("no-rollout")
    assert f"nothing to {verb}: no rollout is running" in r.json()["detail"]


def test_a_second_start_is_refused_while_one_runs(admin):
    assert start(admin).status_code == 200
    r = start(admin, model="photos")
    assert r.status_code == 409 and "canary rollout of photos-1.0 1.0.0 is running" in r.json()["detail"]


def test_the_canary_answers_its_share_sticky_by_sha256(admin):
    assert start(admin, share=0.5).status_code == 200
    first = [predict(admin, seed)["model"]["name"] for seed in range(24)]
    again = [predict(admin, seed)["model"]["name"] for seed in range(24)]
    assert first == again  # the same image, the same model
    assert 4 <= first.count("photos-1.0") <= 20 and "cifake" in first
    wait_for(
        lambda: sample(admin, "deeptrust_rollout_compared_total", model="photos-1.0", version="1.0.0") > 0
    )
    labels = {"model": "photos-1.0", "version": "1.0.0", "role": "canary"}
    assert sample(admin, "deeptrust_model_latency_seconds_count", **labels) == 2 * first.count("photos-1.0")
    assert sample(admin, "deeptrust_model_latency_seconds_count", **(labels | {"model": "cifake"})) == 0
    champion = {"model": "cifake", "version": "1.0.0", "role": "champion"}
    assert sample(admin, "deeptrust_model_p_ai_count", **champion) == 2 * first.count("cifake")
    assert sample(admin, "deeptrust_rollout_active", model="photos-1.0", version="1.0.0", mode="canary") == 1


def test_a_failing_canary_falls_back_and_is_aborted_by_error_rate(admin):
    assert start(admin, share=1.0).status_code == 200
    canary = admin.app.state.service.extras["rollout"].run.canary

    def broken(batch):
        raise RuntimeError("injected: the canary's model call fails")

    canary.detector.run = broken
    answers = [predict(admin, seed) for seed in range(8)]  # every request still answered
    assert {a["model"]["name"] for a in answers} == {"cifake"}
    wait_for(lambda: admin.get("/v1/rollout").json()["state"] == "idle")
    last = admin.get("/v1/rollout").json()["last"]
    assert last["outcome"] == "aborted" and last["reason"] == "error_rate"
    assert "automatic abort: error rate 100.0%" in last["detail"]
    mv = {"model": "photos-1.0", "version": "1.0.0"}
    assert sample(admin, "deeptrust_rollout_aborts_total", **mv, reason="error_rate") == 1
    assert sample(admin, "deeptrust_model_errors_total", **mv, role="canary") >= 5
    assert sample(admin, "deeptrust_rollout_active", **mv, mode="canary") == 0
    assert predict(admin, 99)["model"]["name"] == "cifake"


def test_drift_on_the_canary_version_aborts_it(admin, monkeypatch):
    """The drift monitor's verdict on the canary's version is its own business (tests/monitor); here it
    is told what to say, to check that the canary acts on it and only on its own version's."""
    monitor = admin.app.state.service.extras["drift"]
    says: dict[tuple[str, str], tuple[str, ...]] = {}

    def state(model: str, version: str) -> DriftState:
        drifting = says.get((model, version), ())
        return DriftState(model, version, "drift" if drifting else "ok", drifting=drifting)

    monkeypatch.setattr(monitor, "state", state)
    says[("cifake", "1.0.0")] = ("scores",)  # the champion drifting is no reason to stop the canary
    assert start(admin, share=1.0).status_code == 200
    for seed in range(6):
        predict(admin, seed)
    time.sleep(1.5)
    assert admin.get("/v1/rollout").json()["state"] == "running"  # healthy so far
    says[("photos-1.0", "1.0.0")] = ("embedding",)
    wait_for(lambda: admin.get("/v1/rollout").json()["state"] == "idle")
    last = admin.get("/v1/rollout").json()["last"]
    assert last["reason"] == "drift" and "drift detected on the canary's embedding" in last["detail"]


def test_shadow_scores_off_the_path_and_compares(admin):
    assert start(admin, mode="shadow", share=1.0).status_code == 200
    answers = [predict(admin, seed) for seed in range(10)]
    assert {a["model"]["name"] for a in answers} == {"cifake"}  # the champion answers everything
    mv = {"model": "photos-1.0", "version": "1.0.0"}
    wait_for(lambda: sample(admin, "deeptrust_rollout_compared_total", **mv) == 10)
    assert (
        sample(admin, "deeptrust_model_predictions_total", **mv, role="shadow", label="FAKE")
        + sample(admin, "deeptrust_model_predictions_total", **mv, role="shadow", label="REAL")
        == 10
    )
    wait_for(lambda: (admin.get("/v1/rollout").json().get("window") or {}).get("compared") == 10)
    window = admin.get("/v1/rollout").json()["window"]  # the monitor's reading, refreshed once a second
    assert window["compared"] == 10 and 0 <= window["disagreement"] <= 1
    assert admin.post("/v1/rollout/abort").json()["last"]["reason"] == "manual"
    assert sample(admin, "deeptrust_rollout_aborts_total", **mv, reason="manual") == 1


def test_promote_makes_the_challenger_the_champion(admin):
    assert start(admin, share=0.3).status_code == 200
    body = admin.post("/v1/rollout/promote").json()
    assert body["state"] == "idle" and body["champion"] == {"name": "photos-1.0", "version": "1.0.0"}
    assert body["last"]["outcome"] == "promoted"
    assert {predict(admin, seed)["model"]["name"] for seed in range(6)} == {"photos-1.0"}
    assert sample(admin, "deeptrust_rollout_promotions_total", model="photos-1.0", version="1.0.0") == 1
    assert sample(admin, "deeptrust_model_info", name="photos-1.0", version="1.0.0") == 1


def test_the_ai_ratio_gauge_follows_answers(admin):
    for seed in range(4):
        predict(admin, seed)
    wait_for(lambda: sample(admin, "deeptrust_predicted_ai_ratio", model="cifake", version="1.0.0") > 0, 5)
    answers = [predict(admin, seed) for seed in range(4)]
    expected = sum(a["p_ai"] >= a["threshold"] for a in answers) / 4
    assert sample(admin, "deeptrust_predicted_ai_ratio", model="cifake", version="1.0.0") == expected


def test_non_admins_cannot_start_a_rollout():
    with TestClient(create_app(make_settings())) as client:  # anonymous loopback caller: a user
        r = client.post("/v1/rollout", json={"model": "photos", "mode": "canary", "share": 0.1})
        assert r.status_code == 403


@pytest.fixture(scope="module")
def migrated_store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates, once
    return path


def test_promote_moves_the_registry_champion_alias(isolated_home, migrated_store, tmp_path, monkeypatch):
    from deeptrust.registry import record_gate, register, resolve_reference

    from ..registry.conftest import make_model

    shutil.copy(migrated_store, isolated_home / "mlflow.db")
    models = isolated_home / "models"
    make_model(models / "tiny")  # version 1, the champion, once the registry first meets it
    monkeypatch.setenv("DEEPTRUST_MODEL_PATHS", json.dumps([str(models)]))
    deeptrust.settings.get_settings.cache_clear()
    assert resolve_reference("tiny").version == 1
    gated = register(make_model(tmp_path / "v2", card_version="2.0.0"), name="tiny", alias="challenger")
    record_gate("tiny", gated, passed=True)
    ungated = register(make_model(tmp_path / "v3", card_version="3.0.0"), name="tiny")
    settings = make_settings(local_admin=True, model="tiny", model_paths=[models])
    with TestClient(create_app(settings)) as client:
        assert start(client, model=f"tiny/{ungated}").status_code == 200
        r = client.post("/v1/rollout/promote")  # the registry's gate says no: nothing moves
        assert r.status_code == 409 and r.json()["type"].endswith("promotion-refused")
        assert "has not been through the quality gate" in r.json()["detail"]
        assert client.get("/v1/rollout").json()["state"] == "running"
        client.post("/v1/rollout/abort")
        body = start(client, model="tiny@challenger", share=0.5).json()
        assert body["rollout"]["challenger"]["version"] == "2.0.0"
        body = client.post("/v1/rollout/promote").json()
        assert body["champion"]["version"] == "2.0.0" and body["last"]["outcome"] == "promoted"
        assert resolve_reference("tiny").version == gated  # the champion alias moved
        assert client.app.state.service.holder.source == "tiny"  # serves the alias: a restart agrees


def test_a_shadow_lane_that_cannot_load_its_model_is_a_clear_problem(tmp_path):
    from deeptrust.settings import BUNDLED_MODELS

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "card.json").write_text((BUNDLED_MODELS / "photos-1.0" / "card.json").read_text())
    (broken / "model.onnx").write_bytes(b"not an onnx file")  # the card reads; the lane's model does not
    with TestClient(create_app(make_settings(local_admin=True, reload_allow_dirs=[tmp_path]))) as client:
        r = client.post("/v1/rollout", json=start_body(str(broken), mode="shadow", share=1.0))
        assert r.status_code == 422 and r.json()["type"].endswith("model-load-failed"), r.json()
        assert "the shadow lane could not load photos-1.0 1.0.0" in r.json()["detail"]
        assert client.get("/v1/rollout").json()["state"] == "idle"
        assert predict(client, 1)["model"]["name"] == "cifake"  # the champion goes on alone


def test_the_status_shows_the_shadow_lane_process(admin):
    body = start(admin, mode="shadow", share=1.0).json()
    lane = admin.get("/v1/rollout").json()["shadow_lane"]
    assert lane["up"] and lane["pid"] > 0 and lane["restarts"] == 0 and lane["priority"] == "SCHED_IDLE"
    assert body["rollout"]["mode"] == "shadow"
    mv = {"model": "photos-1.0", "version": "1.0.0"}
    assert sample(admin, "deeptrust_shadow_lane_up", **mv) == 1
    admin.post("/v1/rollout/abort")
    assert sample(admin, "deeptrust_shadow_lane_up", **mv) == 0
