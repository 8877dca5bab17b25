"""POST /v1/admin/retrain and GET /v1/admin/jobs/{id} in-process (the worker off: nothing runs here)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from deeptrust.jobs import JobStatus, JobStore
from deeptrust.serve.app import create_app

from ..serve.conftest import make_settings
from .conftest import bearer


def client_for(recipes: Path, **overrides: object) -> TestClient:
    settings = make_settings(auth="required", jobs_worker=False, retrain_config_dir=recipes, **overrides)
    return TestClient(create_app(settings))


def test_retrain_queues_one_job_and_a_second_request_is_a_conflict(keys, recipes, add_reviewed) -> None:
    add_reviewed(2)
    with client_for(recipes) as client:
        admin = bearer(keys["admin"])
        first = client.post(
            "/v1/admin/retrain", json={"model": "cifake", "min_new_reviewed": 2}, headers=admin
        )
        assert first.status_code == 202, first.text
        job = first.json()
        assert (
            job["status"] == "queued" and job["trigger"] == "http" and job["requested_by"].startswith("key:")
        )
        assert first.headers["location"] == f"/v1/admin/jobs/{job['id']}"
        again = client.post("/v1/admin/retrain", json={"model": "cifake"}, headers=admin)
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert again.json()["job_id"] == job["id"] and "already queued" in again.json()["detail"]
        shown = client.get(f"/v1/admin/jobs/{job['id']}", headers=admin).json()
        assert shown["status"] == "queued" and shown["params"] == {"min_new_reviewed": 2}
        assert shown["log_tail"] == ""
        listed = client.get("/v1/admin/jobs", headers=admin).json()["jobs"]
        assert [j["id"] for j in listed] == [job["id"]]


def test_simultaneous_requests_make_one_job(keys, recipes, add_reviewed) -> None:
    add_reviewed(1)
    with client_for(recipes) as client:
        statuses: list[int] = []
        barrier = threading.Barrier(4)

        def post() -> None:
            barrier.wait()
            statuses.append(client.post("/v1/admin/retrain", headers=bearer(keys["admin"])).status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [202, 409, 409, 409]


def test_no_new_feedback_is_a_clear_422_and_queues_nothing(
    keys, recipes, add_reviewed, isolated_home
) -> None:
    with client_for(recipes) as client:
        r = client.post("/v1/admin/retrain", json={"model": "cifake"}, headers=bearer(keys["admin"]))
        assert r.status_code == 422 and r.json()["type"].endswith("/no-new-feedback")
        assert "0 reviewed correction(s) of 'cifake' so far" in r.json()["detail"]
        add_reviewed(1)
        r = client.post("/v1/admin/retrain", json={"min_new_reviewed": 5}, headers=bearer(keys["admin"]))
        assert r.status_code == 422 and (r.json()["new"], r.json()["needed"]) == (1, 5)
    with JobStore(f"sqlite:///{isolated_home / 'deeptrust.db'}", isolated_home / "jobs") as jobs:
        assert jobs.list_jobs() == []


def test_new_means_since_the_last_completed_retrain(keys, recipes, add_reviewed, isolated_home) -> None:
    add_reviewed(2)
    with client_for(recipes) as client:
        job = client.post("/v1/admin/retrain", headers=bearer(keys["admin"])).json()
        jobs: JobStore = client.app.state.service.extras["jobs"]
        assert jobs.claim_next("w") is not None
        through = max(
            i.reviewed_at for i in client.app.state.service.extras["feedback_store"].list_review(None)
        )
        jobs.finish(
            job["id"],
            "w",
            JobStatus.SUCCEEDED,
            result={"feedback": {"reviewed_through": through.isoformat()}},
        )
        r = client.post("/v1/admin/retrain", headers=bearer(keys["admin"]))
        assert r.status_code == 422 and "since the last retrain" in r.json()["detail"]
        add_reviewed(1, seed=1)
        assert client.post("/v1/admin/retrain", headers=bearer(keys["admin"])).status_code == 202


def test_bad_requests_are_problems(keys, recipes, add_reviewed) -> None:
    add_reviewed(1)
    with client_for(recipes) as client:
        admin = bearer(keys["admin"])
        unknown = client.post("/v1/admin/retrain", json={"model": "nope"}, headers=admin)
        assert unknown.status_code == 404 and "no training recipe for 'nope'" in unknown.json()["detail"]
        path = client.post("/v1/admin/retrain", json={"model": "../etc"}, headers=admin)
        assert path.status_code == 422 and path.json()["type"].endswith("/bad-model-name")
        extra = client.post("/v1/admin/retrain", json={"model": "cifake", "epochs": 3}, headers=admin)
        assert extra.status_code == 422
        assert (
            client.post("/v1/admin/retrain", json={"min_new_reviewed": 0}, headers=admin).status_code == 422
        )
        assert client.get("/v1/admin/jobs/12345", headers=admin).status_code == 404
        assert client.post("/v1/admin/retrain", headers=bearer(keys["moderator"])).status_code == 403


def test_alertmanager_webhook_queues_per_model_and_skips_repeats(keys, recipes, add_reviewed) -> None:
    add_reviewed(1)
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "deeptrust-retrain",
        "groupLabels": {"alertname": "DeeptrustDrift"},
        "commonLabels": {"alertname": "DeeptrustDrift", "model": "cifake"},
        "alerts": [
            {"status": "firing", "labels": {"alertname": "DeeptrustDrift", "model": "cifake"}},
            {"status": "resolved", "labels": {"alertname": "DeeptrustDrift", "model": "other"}},
        ],
    }
    with client_for(recipes) as client:
        admin = bearer(keys["admin"])
        r = client.post(
            "/v1/admin/retrain",
            content=json.dumps(payload),
            headers=admin | {"content-type": "application/json"},
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert [j["model"] for j in body["jobs"]] == ["cifake"] and body["jobs"][0][
            "trigger"
        ] == "alertmanager"
        assert body["skipped"] == []
        repeat = client.post("/v1/admin/retrain", json=payload, headers=admin).json()
        assert repeat["jobs"] == [] and repeat["skipped"][0]["reason"] == "job-conflict"
