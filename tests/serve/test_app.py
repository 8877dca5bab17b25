"""Every endpoint in-process (TestClient), with auth off and on."""

import base64
import concurrent.futures as cf
import io
import logging
import shutil
import subprocess
import threading
import time
import uuid

import jwt
import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image

from deeptrust.serve.app import create_app
from deeptrust.serve.auth import KeyStore

from .conftest import free_port, jpeg_bytes, make_settings


def test_predict_multipart_and_raw_body_agree(client):
    data = jpeg_bytes(48, seed=3)
    a = client.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")})
    b = client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"})
    assert a.status_code == b.status_code == 200
    ja, jb = a.json(), b.json()
    assert ja["p_ai"] == pytest.approx(jb["p_ai"], abs=1e-6)
    assert set(ja) >= {"request_id", "label", "scores", "p_ai", "threshold", "model", "image", "timings_ms"}
    assert ja["model"] == {"name": "cifake", "version": ja["model"]["version"]}
    assert ja["image"]["width"] == 48 and ja["image"]["format"] == "JPEG" and len(ja["image"]["sha256"]) == 64
    assert sum(ja["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert ja["label"] == ("FAKE" if ja["p_ai"] >= ja["threshold"] else "REAL")
    assert a.headers["x-request-id"] == ja["request_id"] != jb["request_id"]


def test_request_id_from_the_caller_is_kept(client):
    r = client.post(
        "/v1/predict", content=jpeg_bytes(), headers={"content-type": "image/jpeg", "x-request-id": "abc"}
    )
    assert r.json()["request_id"] == "abc" == r.headers["x-request-id"]


def test_batch_scores_each_image_and_reports_bad_ones(client):
    files = [("files", (f"{i}.jpg", jpeg_bytes(40, seed=i), "image/jpeg")) for i in range(3)]
    files.append(("files", ("bad.jpg", jpeg_bytes(40)[:300], "image/jpeg")))  # truncated
    r = client.post("/v1/predict/batch", files=files)
    body = r.json()
    assert r.status_code == 200 and body["n"] == 4 and body["errors"] == 1
    assert [item["ok"] for item in body["results"]] == [True, True, True, False]
    assert body["results"][3]["error"]["status"] == 400 and body["results"][0]["result"]["label"] in (
        "REAL",
        "FAKE",
    )
    single = client.post(
        "/v1/predict", files={"file": ("0.jpg", jpeg_bytes(40, seed=0), "image/jpeg")}
    ).json()
    assert body["results"][0]["result"]["p_ai"] == pytest.approx(single["p_ai"], abs=1e-6)


def test_explain_json_and_png():
    with TestClient(create_app(make_settings(model="photos"))) as c:
        data = jpeg_bytes(256, seed=5)
        r = c.post("/v1/explain", files={"file": ("x.jpg", data, "image/jpeg")})
        assert r.status_code == 200
        body = r.json()
        heatmap = Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"])))
        overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
        assert heatmap.mode == "RGBA" and heatmap.size == overlay.size == (256, 256)
        assert 0 <= body["p_ai"] <= 1 and body["model"]["name"] == "photos"
        png = c.post(
            "/v1/explain", files={"file": ("x.jpg", data, "image/jpeg")}, headers={"accept": "image/png"}
        )
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        assert float(png.headers["x-deeptrust-p-ai"]) == pytest.approx(body["p_ai"], abs=1e-5)


def test_models_health_ready_metrics_docs(client):
    models = client.get("/v1/models").json()
    assert models["default"] == "cifake" and {"cifake", "photos"} <= {m["name"] for m in models["models"]}
    photos = next(m for m in models["models"] if m["name"] == "photos")  # its card carries a drift profile
    assert photos["drift_profile"]["present"] is True and photos["drift_profile"]["n"] > 0
    assert "embedding" not in photos["drift_profile"]  # summarised: the listing stays small
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/v1/predict", content=jpeg_bytes(), headers={"content-type": "image/jpeg"})
    client.post("/v1/predict", content=b"nope", headers={"content-type": "text/plain"})
    text = client.get("/metrics").text
    for needle in (
        'deeptrust_http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0',
        'deeptrust_http_requests_total{method="POST",route="/v1/predict",status="415"} 1.0',
        "deeptrust_http_request_duration_seconds_bucket",
        "deeptrust_http_requests_in_flight",
        "deeptrust_batch_queue_depth",
        "deeptrust_batch_size_count 1.0",
        "deeptrust_decode_seconds_count 1.0",
        "deeptrust_inference_seconds_count 1.0",
        "deeptrust_prediction_p_ai_count{label=",
        'deeptrust_model_info{name="cifake"',
    ):
        assert needle in text, needle
    assert client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
    assert client.get("/docs").status_code == 200


def test_reload_swaps_models_without_dropping_requests(isolated_home):
    jpeg = {"content-type": "image/jpeg"}
    with TestClient(create_app(make_settings(local_admin=True))) as client:  # reloading needs admin
        before = client.post("/v1/predict", content=jpeg_bytes(), headers=jpeg).json()
        r = client.post("/v1/models/reload", json={"model": "photos"})
        assert r.status_code == 200 and r.json()["name"] == "photos"
        after = client.post("/v1/predict", content=jpeg_bytes(), headers=jpeg).json()
        assert (before["model"]["name"], after["model"]["name"]) == ("cifake", "photos")
        assert client.post("/v1/models/reload", json={"model": "nope"}).status_code == 404
        assert "deeptrust_model_reloads_total 1.0" in client.get("/metrics").text


JWT_SECRET = "s3cret-s3cret-s3cret-s3cret-32byte"  # HS256 secrets need at least 32 bytes


@pytest.fixture
def secured(isolated_home):
    """auth=required with one key per role and an HS256 secret."""
    store = KeyStore(isolated_home / "api_keys.json")
    keys = {role: store.create(role, role=role)[1] for role in ("user", "moderator", "admin")}
    settings = make_settings(auth="required", jwt_secret=JWT_SECRET)
    with TestClient(create_app(settings)) as c:
        yield c, keys, store


def bearer(token):
    return {"authorization": f"Bearer {token}", "content-type": "image/jpeg"}


def test_auth_required_refuses_strangers_and_accepts_keys_and_tokens(secured):
    c, keys, _ = secured
    anonymous = c.post("/v1/predict", content=jpeg_bytes(), headers={"content-type": "image/jpeg"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(keys["user"])).status_code == 200
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=bearer("dt_fake_key")).status_code == 401
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=bearer("x.y.z")).status_code == 401
    x_api_key = {"x-api-key": keys["user"], "content-type": "image/jpeg"}
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=x_api_key).status_code == 200
    token = jwt.encode({"sub": "bob", "exp": time.time() + 60}, JWT_SECRET, algorithm="HS256")
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(token)).status_code == 200
    basic = {"authorization": "Basic Zm9vOmJhcg==", "content-type": "image/jpeg"}
    assert c.post("/v1/predict", content=jpeg_bytes(), headers=basic).status_code == 401
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200  # probes stay open


def test_reload_needs_admin_and_revocation_is_immediate(secured):
    c, keys, store = secured
    assert c.post("/v1/models/reload", headers=bearer(keys["moderator"])).status_code == 403
    assert c.post("/v1/models/reload", headers=bearer(keys["admin"])).status_code == 200
    key_id = keys["user"].split("_")[1]
    store.revoke(key_id)
    r = c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(keys["user"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


REDIS_URL = "redis://127.0.0.1:6379/0"


def limited_settings(*, burst: int, redis_url: str = "", **overrides):
    return make_settings(
        auth="required", rate_limit_per_s=0.2, rate_limit_burst=burst, redis_url=redis_url, **overrides
    )


def batch_files(n: int) -> list:
    return [("files", (f"{i}.jpg", jpeg_bytes(40, seed=i), "image/jpeg")) for i in range(n)]


@pytest.mark.parametrize("redis_url", ["", REDIS_URL], ids=["memory", "redis"])
def test_rate_limit_answers_429_with_retry_after(isolated_home, redis_url):
    _, key = KeyStore(isolated_home / "api_keys.json").create(f"rl-{uuid.uuid4().hex}")
    with TestClient(create_app(limited_settings(burst=2, redis_url=redis_url))) as c:
        codes = [c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(key)) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert int(codes[2].headers["retry-after"]) >= 1
        assert codes[2].json()["type"].endswith("rate-limited")
        assert "deeptrust_rate_limited_total 1.0" in c.get("/metrics").text
        subject = c.app.state.service.keys.verify(key).subject
    if redis_url:  # the bucket lives in Redis, not in this process: empty after the two tokens taken
        tokens = redis.Redis.from_url(redis_url).hget(f"deeptrust:ratelimit:{subject}", "tokens")
        assert tokens is not None and float(tokens) < 1


def test_redis_rate_limit_is_one_bucket_for_every_app(isolated_home):
    """Two apps on one Redis = two replicas: together they grant one burst, and the bucket is in Redis."""
    _, key = KeyStore(isolated_home / "api_keys.json").create(f"rl-{uuid.uuid4().hex}")
    settings = limited_settings(burst=3, redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        codes = [
            c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(key)).status_code for c in (a, b, a, b)
        ]
        principal = a.app.state.service.keys.verify(key)
    assert codes == [200, 200, 200, 429]
    assert redis.Redis.from_url(REDIS_URL).pttl(f"deeptrust:ratelimit:{principal.subject}") > 0


@pytest.mark.parametrize("redis_url", ["", REDIS_URL], ids=["memory", "redis"])
def test_rate_limits_count_images_on_every_scoring_route(isolated_home, redis_url):
    _, key = KeyStore(isolated_home / "api_keys.json").create(f"rl-{uuid.uuid4().hex}")
    with TestClient(create_app(limited_settings(burst=5, redis_url=redis_url))) as c:
        auth = {"authorization": f"Bearer {key}"}
        assert c.post("/v1/predict/batch", files=batch_files(3), headers=auth).status_code == 200  # 2 left
        short = c.post("/v1/predict/batch", files=batch_files(3), headers=auth)
        assert short.status_code == 429 and "3 asked" in short.json()["detail"]
        image = {"file": ("x.jpg", jpeg_bytes(48), "image/jpeg")}
        assert c.post("/v1/explain", files=image, headers=auth).status_code == 200  # 1 left
        assert c.post("/v1/predict", files=image, headers=auth).status_code == 200  # 0 left
        assert c.post("/v1/explain", files=image, headers=auth).status_code == 429


def test_a_batch_larger_than_the_burst_is_refused_with_a_clear_429(isolated_home):
    _, key = KeyStore(isolated_home / "api_keys.json").create("one-at-a-time")
    with TestClient(create_app(limited_settings(burst=1))) as c:
        auth = {"authorization": f"Bearer {key}"}
        r = c.post("/v1/predict/batch", files=batch_files(32), headers=auth)
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"].endswith("batch-over-rate-limit") and "retry-after" not in r.headers
        assert "32 images" in body["detail"] and "at most 1" in body["detail"]
        assert (
            c.app.state.service.batcher.depth == 0
            and "deeptrust_batch_size_count 0.0" in c.get("/metrics").text
        )  # nothing was scored
        single = c.post("/v1/predict/batch", files=batch_files(1), headers=auth)
        assert single.status_code == 200  # the refused batch took no token


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
def test_unreachable_redis_fails_closed_with_503_unless_fail_open(isolated_home, fail_open):
    _, key = KeyStore(isolated_home / "api_keys.json").create("redis-down")
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = limited_settings(burst=5, redis_url=down, rate_limit_fail_open=fail_open)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(key))
        if fail_open:
            assert r.status_code == 200
        else:
            assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"] == "5" and r.json()["type"].endswith("rate-limit-unavailable")
            assert "does not answer" in r.json()["detail"] and "127.0.0.1" not in r.text  # no address
        assert "deeptrust_rate_limit_unavailable_total 1.0" in c.get("/metrics").text


def test_full_queue_sheds_with_503(isolated_home):
    app = create_app(make_settings(max_queue=1))
    with TestClient(app) as c:
        service = app.state.service
        service.batcher.max_queue = 0  # every submit now finds the batcher's queue full
        r = c.post("/v1/predict", content=jpeg_bytes(), headers={"content-type": "image/jpeg"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        service.in_flight = service.admission_limit  # and now the door itself is shut
        files = [("files", ("a.jpg", jpeg_bytes(), "image/jpeg"))]
        assert c.post("/v1/predict/batch", files=files).status_code == 503
        assert "deeptrust_load_shed_total 2.0" in c.get("/metrics").text


def test_explain_goes_through_admission_control():
    app = create_app(make_settings())
    with TestClient(app) as c:
        service = app.state.service
        image = {"file": ("x.jpg", jpeg_bytes(48), "image/jpeg")}
        seen = []
        explain = service.holder.current.explain
        service.holder.current.explain = lambda item: seen.append(service.in_flight) or explain(item)
        assert c.post("/v1/explain", files=image).status_code == 200
        assert seen == [1] and service.in_flight == 0  # counted while it ran, released after
        service.in_flight = service.admission_limit  # the door is shut: explain is refused too
        r = c.post("/v1/explain", files=image)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "deeptrust_load_shed_total 1.0" in c.get("/metrics").text


def test_concurrent_explains_hold_at_most_decode_threads_decoded_images():
    """A decoded image for a heatmap can cost ~800 MiB: waiting explains must not each hold one."""
    app = create_app(make_settings(decode_threads=2))
    held, peak, lock = [0], [0], threading.Lock()
    with TestClient(app) as c:
        runtime = app.state.service.holder.current
        decode, explain = runtime.decode, runtime.explain

        def counting_decode(data, **options):
            decoded = decode(data, **options)
            time.sleep(0.05)  # slow enough that requests pile up behind the two decode threads
            with lock:
                held[0] += 1
                peak[0] = max(peak[0], held[0])
            return decoded

        def counting_explain(item):
            try:
                return explain(item)
            finally:
                with lock:
                    held[0] -= 1

        runtime.decode, runtime.explain = counting_decode, counting_explain
        image = {"file": ("x.jpg", jpeg_bytes(48), "image/jpeg")}
        with cf.ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: c.post("/v1/explain", files=image).status_code, range(6)))
    assert codes == [200] * 6 and held[0] == 0
    assert peak[0] <= 2


class PrivateRedis:
    """A redis-server of this test's own on a free port, so it can be stopped without touching CI's."""

    def __init__(self, folder):
        self.port, self.folder, self.proc = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert shutil.which("redis-server"), "redis-server is not installed (.ci/run installs it)"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", *args, "--dir", str(self.folder)], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def test_redis_going_down_answers_503_and_coming_back_recovers(isolated_home, tmp_path, caplog):
    _, key = KeyStore(isolated_home / "api_keys.json").create("outage")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        with TestClient(create_app(limited_settings(burst=10, redis_url=server.url))) as c:

            def predict():
                return c.post("/v1/predict", content=jpeg_bytes(), headers=bearer(key))

            assert predict().status_code == 200
            server.stop()
            with caplog.at_level(logging.WARNING, logger="deeptrust.serve"):
                down = [predict() for _ in range(2)]
                server.start()
                assert predict().status_code == 200  # the same client reconnects: no restart needed
            assert {r.status_code for r in down} == {503}
            assert down[0].headers["content-type"] == "application/problem+json"
            assert down[0].headers["retry-after"] == "5"
            assert "deeptrust_rate_limit_unavailable_total 2.0" in c.get("/metrics").text
    finally:
        server.stop()
    outage = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
    assert len(outage) == 2 and "does not answer" in outage[0] and "answers again" in outage[1]  # once each
