"""The page and its API in-process (TestClient): feedback, the review queue, roles, export → import."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from deeptrust.data import import_dataset

from ..serve.conftest import jpeg_bytes
from .conftest import bearer

PROBLEM_JSON = "application/problem+json"
STATIC = ("/", "/static/app.js", "/static/app.css")


def feedback_form(**overrides: Any) -> dict[str, str]:
    form = {"predicted_label": "FAKE", "corrected_label": "REAL", "p_ai": "0.8", "model_version": "1.0.0"}
    return form | {k: str(v) for k, v in overrides.items()}


def send_feedback(client: TestClient, key: str, data: bytes, **overrides: Any) -> Any:
    files = {"file": ("x.jpg", data, "image/jpeg")}
    return client.post("/v1/feedback", files=files, data=feedback_form(**overrides), headers=bearer(key))


def store_of(client: TestClient) -> Any:
    return client.app.state.service.extras["feedback_store"]  # type: ignore[attr-defined]


def writer_of(client: TestClient) -> Any:
    return client.app.state.service.extras["review_writer"]  # type: ignore[attr-defined]


def wait_for_queue(client: TestClient, key: str, *, origin: str, n: int = 1, timeout: float = 10.0) -> list:
    """The borderline hook writes from a background thread: poll until ``n`` items are queued."""
    deadline = time.monotonic() + timeout
    while True:
        items = client.get(f"/v1/review?origin={origin}", headers=bearer(key)).json()["items"]
        if len(items) >= n or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


# -- the page --


def test_page_and_static_files_are_served_without_credentials(app_factory) -> None:
    client = app_factory()  # auth required: the page itself is public, the API behind it is not
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text and 'href="/static/app.css"' in page.text
    js, css = client.get("/static/app.js"), client.get("/static/app.css")
    assert js.status_code == css.status_code == 200
    assert "javascript" in js.headers["content-type"] and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.js").status_code == 404
    assert (
        client.post("/v1/predict", content=jpeg_bytes(), headers={"content-type": "image/jpeg"}).status_code
        == 401
    )


def test_the_page_loads_nothing_from_other_hosts(app_factory) -> None:
    client = app_factory()
    for path in STATIC:
        text = client.get(path).text
        hosts = re.findall(r"https?://([^/\s\"'`)]+)", text)
        assert all(h.split(":")[0] in ("127.0.0.1", "localhost") for h in hosts), (path, hosts)
        assert not re.search(r"(src|href)\s*=\s*[\"']//", text), path  # protocol-relative URLs too


# -- feedback --


def test_feedback_is_stored_with_who_and_model_version(app_factory, keys) -> None:
    client = app_factory()
    data = jpeg_bytes(40, seed=1)
    r = send_feedback(client, keys["user"], data, model_version="1.0.0-web", comment="a painting")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    item = store_of(client).get(r.json()["id"])
    key_id = keys["user"].split("_")[1]
    assert item.who == f"key:{key_id}" and item.model_version == "1.0.0-web" and item.model_name == "cifake"
    assert item.origin.value == "flag" and item.predicted_label == "FAKE" and item.corrected_label == "REAL"
    assert item.p_ai == pytest.approx(0.8) and item.comment == "a painting"
    assert item.threshold == pytest.approx(client.app.state.service.holder.current.card.threshold)  # type: ignore[attr-defined]
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    assert store_of(client).image_file(item).read_bytes() == data


@pytest.mark.parametrize(
    "overrides",
    [
        {"corrected_label": "DOG"},  # not a class of the served model
        {"predicted_label": "CAT"},
        {"corrected_label": "FAKE"},  # equal to the prediction: nothing to correct
        {"corrected_label": ""},
        {"p_ai": "1.5"},
        {"model_version": ""},
    ],
    ids=["unknown-corrected", "unknown-predicted", "same-label", "empty-label", "p_ai", "no-version"],
)
def test_invalid_feedback_is_a_422_problem(app_factory, keys, overrides: dict[str, str]) -> None:
    client = app_factory()
    r = send_feedback(client, keys["user"], jpeg_bytes(), **overrides)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["status"] == 422 and body["detail"] and body["type"].startswith("https://")
    assert store_of(client).count(None) == 0


def test_empty_feedback_image_is_a_400_and_credentials_are_needed(app_factory, keys) -> None:
    client = app_factory()
    r = send_feedback(client, keys["user"], b"")
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM_JSON
    assert "empty" in r.json()["detail"]
    files = {"file": ("x.jpg", jpeg_bytes(), "image/jpeg")}
    anonymous = client.post("/v1/feedback", files=files, data=feedback_form())
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM_JSON
    assert store_of(client).count(None) == 0


# -- the review queue: roles --


def review_requests(item_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", "/v1/review", None),
        ("GET", f"/v1/review/{item_id}/image", None),
        ("POST", f"/v1/review/{item_id}", {"action": "approve"}),
        ("POST", f"/v1/review/{item_id}", {"action": "relabel", "label": "FAKE"}),
        ("GET", "/v1/review/export", None),
    ]


def test_review_routes_need_a_moderator(app_factory, keys) -> None:
    client = app_factory()
    item_id = send_feedback(client, keys["user"], jpeg_bytes(seed=2)).json()["id"]
    for method, path, body in review_requests(item_id):
        anonymous = client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        user = client.request(method, path, json=body, headers=bearer(keys["user"]))
        assert user.status_code == 403 and user.headers["content-type"] == PROBLEM_JSON, (method, path)
        assert "moderator" in user.json()["detail"]
        bad = client.request(method, path, json=body, headers=bearer("dt_0000_not-a-key"))
        assert bad.status_code == 401, (method, path)
    assert store_of(client).get(item_id).status.value == "pending"  # nothing happened
    for role in ("moderator", "admin"):
        for method, path, body in review_requests(item_id):
            r = client.request(method, path, json=body, headers=bearer(keys[role]))
            assert r.status_code == 200, (role, method, path, r.text)


def test_a_moderator_jwt_reviews_and_a_user_jwt_does_not(app_factory) -> None:
    client = app_factory(jwt_secret="a-32-byte-long-secret-for-tests!")

    def token(roles: list[str]) -> dict[str, str]:
        claims = {"sub": "alice", "roles": roles, "exp": int(time.time()) + 60}
        return bearer(jwt.encode(claims, "a-32-byte-long-secret-for-tests!", algorithm="HS256"))

    r = client.post(
        "/v1/feedback",
        files={"file": ("x.jpg", jpeg_bytes(seed=3), "image/jpeg")},
        data=feedback_form(),
        headers=token(["user"]),
    )
    assert r.status_code == 201 and store_of(client).get(r.json()["id"]).who == "jwt:alice"
    assert client.get("/v1/review", headers=token(["user"])).status_code == 403
    queue = client.get("/v1/review", headers=token(["moderator"]))
    assert queue.status_code == 200 and queue.json()["total"] == 1


# -- the review queue: contents and decisions --


def test_borderline_predictions_join_the_queue(app_factory, keys) -> None:
    client = app_factory(review_band=1.0)  # every prediction is "near" the threshold
    data = jpeg_bytes(32, seed=4)
    pred = client.post(
        "/v1/predict", content=data, headers={"content-type": "image/jpeg", **bearer(keys["user"])}
    )
    assert pred.status_code == 200
    [item] = wait_for_queue(client, keys["moderator"], origin="borderline")
    assert item["origin"] == "borderline" and item["status"] == "pending"
    assert item["predicted_label"] == pred.json()["label"] and item["corrected_label"] is None
    assert item["p_ai"] == pytest.approx(pred.json()["p_ai"], abs=1e-6)
    assert item["model_name"] == "cifake" and item["sha256"] == hashlib.sha256(data).hexdigest()
    image = client.get(item["image_url"], headers=bearer(keys["moderator"]))
    assert (
        image.status_code == 200 and image.headers["content-type"] == "image/jpeg" and image.content == data
    )
    # the same image again is not queued twice; batch predictions are queued too
    client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg", **bearer(keys["user"])})
    files = [("files", ("b.jpg", jpeg_bytes(32, seed=5), "image/jpeg"))]
    assert client.post("/v1/predict/batch", files=files, headers=bearer(keys["user"])).status_code == 200
    assert len(wait_for_queue(client, keys["moderator"], origin="borderline", n=2)) == 2
    time.sleep(0.2)
    assert client.get("/v1/review", headers=bearer(keys["moderator"])).json()["total"] == 2


def predict_as(client: TestClient, key: str, data: bytes) -> dict[str, Any]:
    r = client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg", **bearer(key)})
    assert r.status_code == 200, r.text
    return r.json()


def test_only_predictions_within_the_band_are_queued(app_factory, keys) -> None:
    """A band just under the prediction's distance from the threshold queues nothing, one just over
    queues it: fails if the band check is dropped, inverted or made inclusive of everything."""
    data = jpeg_bytes(32, seed=21)
    probe = predict_as(app_factory(review_band=0.0), keys["user"], data)
    distance = abs(probe["p_ai"] - probe["threshold"])
    assert 1e-3 < distance < 0.5, distance  # room for a band on either side

    narrow = app_factory(review_band=distance * 0.9)
    assert predict_as(narrow, keys["user"], data)["p_ai"] == pytest.approx(probe["p_ai"], abs=1e-6)
    assert writer_of(narrow).join(10)
    assert store_of(narrow).count(None) == 0

    wide = app_factory(review_band=distance * 1.1)
    predict_as(wide, keys["user"], data)
    assert writer_of(wide).join(10)
    [item] = store_of(wide).list_review(origin="borderline")
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    assert item.who == f"key:{keys['user'].split('_')[1]}"  # the caller whose prediction it was


def test_review_errors_are_problems(app_factory, keys) -> None:
    client = app_factory()
    mod = bearer(keys["moderator"])
    item_id = send_feedback(client, keys["user"], jpeg_bytes(seed=6)).json()["id"]
    cases = [
        ("POST", f"/v1/review/{item_id}", {"action": "relabel", "label": "DOG"}, 422),
        ("POST", f"/v1/review/{item_id}", {"action": "relabel"}, 422),
        ("POST", f"/v1/review/{item_id}", {"action": "approve", "label": "FAKE"}, 422),
        ("POST", f"/v1/review/{item_id}", {"action": "delete"}, 422),
        ("POST", "/v1/review/999999", {"action": "approve"}, 404),
        ("GET", "/v1/review/999999/image", None, 404),
        ("GET", "/v1/review?status=bogus", None, 422),
        ("GET", "/v1/review?limit=0", None, 422),
    ]
    for method, path, body, status in cases:
        r = client.request(method, path, json=body, headers=mod)
        assert r.status_code == status, (method, path, body, r.text)
        assert r.headers["content-type"] == PROBLEM_JSON and r.json()["detail"]
    assert store_of(client).get(item_id).status.value == "pending"


def run_review_flow(client: TestClient, keys: dict[str, str], tmp_path: Path, name: str) -> None:
    """Flag two images, queue a borderline one; relabel, approve; export; import the export."""
    mod = bearer(keys["moderator"])
    images = {seed: jpeg_bytes(32, seed=seed) for seed in (10, 11, 12)}
    sha = {seed: hashlib.sha256(data).hexdigest() for seed, data in images.items()}
    flag_a = send_feedback(client, keys["user"], images[10], predicted_label="FAKE", corrected_label="REAL")
    flag_b = send_feedback(client, keys["user"], images[11], predicted_label="REAL", corrected_label="FAKE")
    assert flag_a.status_code == flag_b.status_code == 201
    client.post(
        "/v1/predict", content=images[12], headers={"content-type": "image/jpeg", **bearer(keys["user"])}
    )
    [borderline] = wait_for_queue(client, keys["moderator"], origin="borderline")

    queue = client.get("/v1/review", headers=mod).json()
    assert queue["total"] == 3
    assert [i["origin"] for i in queue["items"]] == ["flag", "flag", "borderline"]  # flags first
    assert {i["sha256"] for i in queue["items"]} == set(sha.values())
    assert all(i["image_url"] == f"/v1/review/{i['id']}/image" for i in queue["items"])

    # the moderator overrules the first flag, agrees with the second, and corrects the model on the third
    a, b = flag_a.json()["id"], flag_b.json()["id"]
    other = "REAL" if borderline["predicted_label"] == "FAKE" else "FAKE"
    relabelled = client.post(f"/v1/review/{a}", json={"action": "relabel", "label": "FAKE"}, headers=mod)
    assert relabelled.status_code == 200
    assert relabelled.json()["status"] == "relabelled" and relabelled.json()["final_label"] == "FAKE"
    assert relabelled.json()["reviewed_by"] == f"key:{keys['moderator'].split('_')[1]}"
    approved = client.post(f"/v1/review/{b}", json={"action": "approve"}, headers=mod).json()
    assert approved["status"] == "approved" and approved["final_label"] == "FAKE"
    client.post(f"/v1/review/{borderline['id']}", json={"action": "relabel", "label": other}, headers=mod)
    assert client.get("/v1/review", headers=mod).json()["total"] == 0
    assert client.get("/v1/review?status=all", headers=mod).json()["total"] == 3
    assert client.get("/v1/review?status=relabelled", headers=mod).json()["total"] == 2

    export = client.get("/v1/review/export", headers=mod)
    assert export.status_code == 200 and export.headers["content-type"] == "application/gzip"
    assert "deeptrust-reviewed.tar.gz" in export.headers["content-disposition"]
    assert export.headers["x-deeptrust-items"] == "3"
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(export.content)
    with tarfile.open(fileobj=io.BytesIO(export.content)) as tar:
        assert sorted(n.split("/")[0] for n in tar.getnames() if "." in n) == sorted(["FAKE", "FAKE", other])
    imported = import_dataset(archive, name=name, val_fraction=0.0, workers=1, progress=False)
    assert imported.excluded.empty
    labels = dict(zip(imported.manifest["sha256"], imported.manifest["label"], strict=True))
    assert labels == {sha[10]: "FAKE", sha[11]: "FAKE", sha[12]: other}


def test_review_flow_on_sqlite(app_factory, keys, tmp_path: Path, isolated_home: Path) -> None:
    client = app_factory(review_band=1.0)
    assert store_of(client).url == f"sqlite:///{(isolated_home / 'deeptrust.db').resolve()}"
    run_review_flow(client, keys, tmp_path, "web-sqlite")


def test_review_flow_on_postgresql(app_factory, keys, tmp_path: Path, postgres_url: str) -> None:
    client = app_factory(review_band=1.0, database_url=postgres_url)
    assert store_of(client).engine.dialect.name == "postgresql"
    run_review_flow(client, keys, tmp_path, "web-postgres")
    # durable: a second app on the same database sees the reviewed items
    again = app_factory(database_url=postgres_url)
    assert again.get("/v1/review?status=all", headers=bearer(keys["moderator"])).json()["total"] == 3


def test_an_empty_export_is_a_valid_archive(app_factory, keys) -> None:
    client = app_factory()
    r = client.get("/v1/review/export", headers=bearer(keys["moderator"]))
    assert r.status_code == 200 and r.headers["x-deeptrust-items"] == "0"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert tar.getnames() == []
