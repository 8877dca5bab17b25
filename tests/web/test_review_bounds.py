"""The review queue's bounds through the HTTP API: every upload decoded under the cap, a per-caller cap,
a bounded writer whose drops are counted, retention that runs by itself, ids that never come back."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .._bad_images import bomb_png, html_png
from ..feedback.test_store import backdate
from ..serve.conftest import jpeg_bytes
from .conftest import bearer
from .test_routes import PROBLEM_JSON, predict_as, send_feedback, store_of, writer_of

BAD = [(bomb_png, 422, "too-many-pixels"), (html_png, 400, "corrupt-image")]
BAD_IDS = ["144-megapixel-png", "png-of-html"]


def metric(client: TestClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}\{{{wanted}\}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def upload(data: bytes) -> dict[str, Any]:
    return {"content": data, "headers": {"content-type": "image/png"}}


@pytest.mark.parametrize(("make", "status", "kind"), BAD, ids=BAD_IDS)
def test_every_route_taking_an_image_refuses_it_the_same_way(
    app_factory, keys, make, status: int, kind: str
) -> None:
    client = app_factory(review_band=1.0)  # were anything scored, it would be queued for review
    data, user = make(), bearer(keys["user"])
    answers = {
        "predict": client.post("/v1/predict", **upload(data) | {"headers": upload(data)["headers"] | user}),
        "explain": client.post("/v1/explain", files={"file": ("x.png", data, "image/png")}, headers=user),
        "feedback": send_feedback(client, keys["user"], data),
    }
    batch = client.post("/v1/predict/batch", files=[("files", ("x.png", data, "image/png"))], headers=user)
    assert batch.status_code == 200
    [entry] = batch.json()["results"]
    assert not entry["ok"] and entry["error"]["status"] == status and entry["error"]["type"].endswith(kind)
    for route, r in answers.items():
        assert r.status_code == status, (route, r.text)
        assert r.headers["content-type"] == PROBLEM_JSON and r.json()["type"].endswith(kind), route
    assert writer_of(client).join(10)
    assert store_of(client).count(None) == 0  # neither flagged nor queued
    reason = kind.replace("-", "_")
    assert metric(client, "deeptrust_image_errors_total", reason=reason) == 4  # counted on every route


def test_a_stored_flag_was_decoded(app_factory, keys) -> None:
    client = app_factory()
    r = send_feedback(client, keys["user"], jpeg_bytes(40, seed=1) + b"<html>trailing</html>")
    assert r.status_code == 201
    item = store_of(client).get(r.json()["id"])
    assert (item.width, item.height) == (40, 40) and item.pixels_sha256


def test_a_caller_over_the_daily_cap_gets_429(app_factory, keys) -> None:
    client = app_factory(feedback_max_per_caller_per_day=2)
    for seed in (1, 2):
        assert send_feedback(client, keys["user"], jpeg_bytes(seed=seed)).status_code == 201
    refused = send_feedback(client, keys["user"], jpeg_bytes(seed=3))
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["retry-after"] and "in the last 24 hours" in refused.json()["detail"]
    assert send_feedback(client, keys["moderator"], jpeg_bytes(seed=3)).status_code == 201  # another caller
    assert store_of(client).count(None) == 3


def test_borderline_images_over_the_callers_cap_are_dropped_and_counted(app_factory, keys) -> None:
    client = app_factory(review_band=1.0, feedback_max_per_caller_per_day=1)
    for seed in (1, 2, 3):
        predict_as(client, keys["user"], jpeg_bytes(32, seed=seed))
    assert writer_of(client).join(10)
    assert store_of(client).count(None) == 1
    assert metric(client, "deeptrust_review_dropped_total", reason="caller_cap") == 2


def test_a_full_writer_queue_drops_and_counts(app_factory, keys, monkeypatch) -> None:
    client = app_factory(review_band=1.0, review_queue_max_items=1)
    store = store_of(client)
    entered, release = threading.Event(), threading.Event()
    real = store.add_borderline

    def slow(*args, **kwargs):
        entered.set()
        assert release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "add_borderline", slow)
    predict_as(client, keys["user"], jpeg_bytes(32, seed=1))
    assert entered.wait(10)  # the writer holds image 1; its queue (one place) is empty
    for seed in (2, 3, 4):  # one waits, two are dropped
        predict_as(client, keys["user"], jpeg_bytes(32, seed=seed))
    assert metric(client, "deeptrust_review_dropped_total", reason="queue_full") == 2
    release.set()
    assert writer_of(client).join(10)
    assert store.count(None) == 2


def test_the_server_purges_old_items_by_itself(app_factory, keys) -> None:
    client = app_factory(feedback_retention_days=30, feedback_purge_interval_s=0.1)
    old = send_feedback(client, keys["user"], jpeg_bytes(seed=1)).json()["id"]
    kept = send_feedback(client, keys["user"], jpeg_bytes(seed=2)).json()["id"]
    store = store_of(client)
    image = store.image_file(store.get(old))
    backdate(store, old, 40)
    deadline = time.monotonic() + 10
    # the purge deletes the row, then the file: wait for both (checking the file at once raced the unlink)
    while (store.count(None) > 1 or image.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [item.id for item in store.list_review(None)] == [kept]
    assert not image.exists()


def test_a_stale_review_id_never_acts_on_a_newer_item(app_factory, keys) -> None:
    client = app_factory()
    mod = bearer(keys["moderator"])
    first = send_feedback(client, keys["user"], jpeg_bytes(seed=1)).json()["id"]
    last = send_feedback(client, keys["user"], jpeg_bytes(seed=2)).json()["id"]
    store = store_of(client)
    backdate(store, last, 400)
    assert store.purge(365).items == 1
    newer = send_feedback(client, keys["user"], jpeg_bytes(seed=3)).json()["id"]
    assert newer > last > first
    stale = client.post(f"/v1/review/{last}", json={"action": "approve"}, headers=mod)
    assert stale.status_code == 404 and stale.headers["content-type"] == PROBLEM_JSON
    assert client.get(f"/v1/review/{last}/image", headers=mod).status_code == 404
    assert store.get(newer).status.value == "pending"


def test_feedback_images_are_decoded_on_the_decode_threads_and_admitted(
    app_factory, keys, monkeypatch
) -> None:
    client = app_factory()
    service, store = client.app.state.service, store_of(client)  # type: ignore[attr-defined]
    threads: list[str] = []
    real = store.check_image
    monkeypatch.setattr(
        store, "check_image", lambda data: threads.append(threading.current_thread().name) or real(data)
    )
    assert send_feedback(client, keys["user"], jpeg_bytes(seed=1)).status_code == 201
    assert len(threads) == 1 and threads[0].startswith("decode")  # decoded once, on the bounded pool
    service.in_flight = service.admission_limit  # the service is full: a flag is shed like a prediction
    try:
        shed = send_feedback(client, keys["user"], jpeg_bytes(seed=2))
    finally:
        service.in_flight = 0
    assert shed.status_code == 503 and shed.headers["retry-after"] and len(threads) == 1
    assert store.count(None) == 1
