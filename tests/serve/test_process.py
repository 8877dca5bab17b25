"""Against real ``deeptrust serve`` (uvicorn) processes: start-up rules, SIGTERM, Redis limits, hot reload."""

import concurrent.futures as cf
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from deeptrust.serve.auth import KeyStore

from .conftest import REPO, Traffic, jpeg_bytes

pytestmark = pytest.mark.slow
JPEG = {"content-type": "image/jpeg"}


def test_serves_on_loopback_without_credentials(server_factory):
    server = server_factory().wait_ready()
    r = httpx.post(server.url + "/v1/predict", content=jpeg_bytes(), headers=JPEG)
    assert r.status_code == 200 and r.json()["model"]["name"] == "cifake"
    assert server.stop() == 0
    log = server.log.read_text()
    assert f"http://127.0.0.1:{server.port}" in log
    assert '"msg": "request"' in log and '"route": "/v1/predict"' in log and '"request_id"' in log


def test_refuses_to_listen_beyond_loopback_without_keys(isolated_home):
    cmd = [sys.executable, "-m", "deeptrust.cli", "serve", "--host", "0.0.0.0", "--port", "1"]
    env = {"DEEPTRUST_HOME": str(isolated_home), "DEEPTRUST_MODEL": "cifake", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr + done.stdout


def test_beyond_loopback_with_a_key_requires_it(server_factory, isolated_home):
    _, key = KeyStore(isolated_home / "api_keys.json").create("ops")
    server = server_factory(args=("--host", "0.0.0.0")).wait_ready()
    assert httpx.post(server.url + "/v1/predict", content=jpeg_bytes(), headers=JPEG).status_code == 401
    auth = JPEG | {"authorization": f"Bearer {key}"}
    assert httpx.post(server.url + "/v1/predict", content=jpeg_bytes(), headers=auth).status_code == 200


def test_sigterm_finishes_in_flight_requests_then_exits(server_factory):
    server = server_factory(env={"DEEPTRUST_MODEL": "photos", "DEEPTRUST_MAX_BATCH_SIZE": "1"}).wait_ready()
    big = jpeg_bytes(1024, seed=1)
    halfway = threading.Event()

    def slow_body():  # the upload is still arriving when SIGTERM comes: the request is in flight
        yield big[: len(big) // 2]
        halfway.set()
        time.sleep(1.0)
        yield big[len(big) // 2 :]

    def upload():
        return httpx.post(server.url + "/v1/predict", content=slow_body(), headers=JPEG, timeout=60)

    with cf.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(upload) for _ in range(4)]
        assert halfway.wait(10)
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 4
    assert all(r.json()["model"]["name"] == "photos" for r in responses)
    assert server.proc.wait(30) == 0
    assert "Waiting for connections to close" in server.log.read_text()  # they were in flight at SIGTERM
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=2)


def test_rate_limit_is_shared_by_replicas_through_redis(server_factory, isolated_home):
    _, key = KeyStore(isolated_home / "api_keys.json").create(f"shared-{uuid.uuid4().hex}")
    env = {
        "DEEPTRUST_AUTH": "required",
        "DEEPTRUST_RATE_LIMIT_PER_S": "0.1",
        "DEEPTRUST_RATE_LIMIT_BURST": "3",
        "DEEPTRUST_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    a, b = server_factory(env=env), server_factory(env=env)
    a.wait_ready(), b.wait_ready()
    auth = JPEG | {"authorization": f"Bearer {key}"}
    codes = [
        httpx.post(s.url + "/v1/predict", content=jpeg_bytes(), headers=auth).status_code
        for s in (a, b, a, b)
    ]
    assert codes == [200, 200, 200, 429]


def test_reload_under_traffic_drops_nothing(server_factory, isolated_home):
    _, admin = KeyStore(isolated_home / "api_keys.json").create("root", role="admin")
    server = server_factory().wait_ready()
    with Traffic(server.url) as traffic:
        time.sleep(0.5)
        headers = {"authorization": f"Bearer {admin}"}
        for target in ("photos", "cifake", "photos"):
            r = httpx.post(
                server.url + "/v1/models/reload", json={"model": target}, headers=headers, timeout=60
            )
            assert r.status_code == 200 and r.json()["name"] == target
            time.sleep(0.3)
    assert traffic.statuses and set(traffic.statuses) == {200}
    assert set(traffic.models) == {"cifake", "photos"}
