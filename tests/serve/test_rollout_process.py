"""Against a real ``deeptrust serve`` (uvicorn) process under traffic, driven by the ``deeptrust rollout``
CLI: no failed request through start → promote, nor through start → automatic abort."""

from __future__ import annotations

import itertools
import os
import threading
import time

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from deeptrust.cli import app

from .conftest import jpeg_bytes
from .test_workers import metric, total

pytestmark = pytest.mark.slow
IMAGES = [jpeg_bytes(64, seed=seed) for seed in range(48)]
JPEG = {"content-type": "image/jpeg"}  # distinct sha256s: both ways of the canary


class Traffic:
    """Clients posting varied JPEGs until stopped; keeps every status and which model answered."""

    def __init__(self, url: str, clients: int = 2):
        self.url, self.answers = url, []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._seeds = itertools.count()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                body = IMAGES[next(self._seeds) % len(IMAGES)]
                try:
                    r = client.post("/v1/predict", content=body, headers={"content-type": "image/jpeg"})
                except httpx.TransportError as exc:
                    self.failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    self.answers.append((time.monotonic(), r.json()["model"]["name"]))

    def since(self, t: float) -> set[str]:
        return {name for at, name in self.answers if at >= t}

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def cli(url: str, *args: str) -> Result:
    """``deeptrust rollout ARGS --url URL``, in this process (a fresh interpreter takes seconds to import)."""
    return CliRunner().invoke(app, ["rollout", *args, "--url", url])


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_start_promote_then_start_and_automatic_abort_under_traffic(server_factory):
    env = {"DEEPTRUST_LOCAL_ADMIN": "true", "DEEPTRUST_ROLLOUT_MIN_REQUESTS": "10"}
    server = server_factory(env=env).wait_ready()
    url = server.url
    done = cli(url, "promote")
    assert done.exit_code == 1 and "409: nothing to promote: no rollout is running" in done.stderr
    done = cli(url, "start", "photos-1.0", "--mode", "canary", "--share", "1.5")
    assert done.exit_code == 2 and "between 0 and 1" in done.stderr

    with Traffic(url) as traffic:
        time.sleep(1.0)
        done = cli(url, "start", "photos-1.0", "--mode", "canary", "--share", "0.5", "--max-p95-ms", "0",
                   "--max-disagreement", "1")  # fmt: skip
        assert done.exit_code == 0, done.stderr
        assert "rollout: canary photos-1.0 1.0.0 at share 0.5" in done.stdout
        started = time.monotonic()
        wait_for(lambda: traffic.since(started) == {"cifake", "photos-1.0"}, 30)
        wait_for(lambda: "window:" in cli(url, "status").stdout, 10)
        done = cli(url, "promote")
        assert done.exit_code == 0, done.stderr
        assert "champion: photos-1.0 1.0.0" in done.stdout and "promoted" in done.stdout
        promoted = time.monotonic()
        time.sleep(1.5)
        assert traffic.since(promoted + 0.5) == {"photos-1.0"}

        # A canary that breaches p95 (any real model takes more than 1 ms) is stopped by itself.
        body = {"model": "cifake", "mode": "canary", "share": 0.5, "abort": {"max_p95_ms": 1}}
        r = httpx.post(url + "/v1/rollout", json=body, timeout=60)
        assert r.status_code == 200, r.text
        wait_for(lambda: httpx.get(url + "/v1/rollout").json()["state"] == "idle", 60)
        aborted = time.monotonic()
        time.sleep(1.0)
    assert not traffic.failures, traffic.failures[:5]
    assert len(traffic.answers) > 50
    assert traffic.since(aborted + 0.2) == {"photos-1.0"}  # the champion answers everything again
    status = cli(url, "status", "--json")
    assert '"reason": "p95"' in status.stdout and "automatic abort: p95" in status.stdout
    text = httpx.get(url + "/metrics").text
    assert metric(text, "deeptrust_rollout_aborts_total", model="cifake", reason="p95") == 1
    assert metric(text, "deeptrust_rollout_promotions_total", model="photos-1.0") == 1
    assert metric(text, "deeptrust_model_predictions_total", model="cifake", role="canary") > 0
    assert "rollout aborted" in server.log.read_text()


def test_the_cli_says_when_no_server_answers():
    done = cli("http://127.0.0.1:9", "status")
    assert done.exit_code == 1 and "cannot reach the service at http://127.0.0.1:9" in done.stderr


def canary_answers_per_worker(runtime) -> dict[str, float]:
    """Canary answers per worker pid, from each worker's own multiprocess metric files."""
    import re
    import shutil
    import tempfile

    from prometheus_client import CollectorRegistry, multiprocess

    files = list((runtime / "metrics").glob("*.db"))
    pids = {m.group(1) for p in files if (m := re.search(r"_(\d+)\.db$", p.name))}
    counts = {}
    for pid in pids:
        with tempfile.TemporaryDirectory() as one:
            for f in files:
                if f.name.endswith(f"_{pid}.db"):
                    shutil.copy(f, one)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=one)
            families = list(registry.collect())
        counts[pid] = total(families, "deeptrust_model_predictions_total", role="canary")
    return counts


def test_every_worker_follows_the_rollout(server_factory, tmp_path):
    runtime = tmp_path / "runtime"
    env = {"DEEPTRUST_RUNTIME_DIR": str(runtime), "DEEPTRUST_LOCAL_ADMIN": "true"}
    server = server_factory(args=("--workers", "2"), env=env).wait_ready()
    body = {"model": "photos-1.0", "mode": "canary", "share": 1.0, "abort": {"max_p95_ms": 0}}
    assert httpx.post(server.url + "/v1/rollout", json=body, timeout=60).status_code == 200
    n = 0
    # New connections, so that the kernel hands some to each worker; go on until both answered as canary.
    while len([c for c in canary_answers_per_worker(runtime).values() if c > 0]) < 2 and n < 400:
        r = httpx.post(server.url + "/v1/predict", content=IMAGES[n % len(IMAGES)], headers=JPEG)
        assert r.status_code == 200
        n += 1
    assert len([c for c in canary_answers_per_worker(runtime).values() if c > 0]) == 2, n
    assert httpx.post(server.url + "/v1/rollout/abort", timeout=60).status_code == 200
    time.sleep(1.0)  # the other worker polls every 0.25 s
    names = {
        httpx.post(server.url + "/v1/predict", content=IMAGES[i], headers=JPEG).json()["model"]["name"]
        for i in range(20)
    }
    assert names == {"cifake"}
    text = httpx.get(server.url + "/metrics").text
    assert metric(text, "deeptrust_rollout_aborts_total", model="photos-1.0", reason="manual") == 1


def test_the_shadow_lane_process_ends_with_the_server(server_factory):
    server = server_factory(env={"DEEPTRUST_LOCAL_ADMIN": "true"}).wait_ready()
    body = {"model": "photos-1.0", "mode": "shadow", "share": 1.0}
    assert httpx.post(server.url + "/v1/rollout", json=body, timeout=60).status_code == 200
    for i in range(4):
        assert httpx.post(server.url + "/v1/predict", content=IMAGES[i], headers=JPEG).status_code == 200
    lane = httpx.get(server.url + "/v1/rollout").json()["shadow_lane"]
    assert lane["up"] and lane["priority"] == "SCHED_IDLE"
    wait_for(lambda: httpx.get(server.url + "/v1/rollout").json()["shadow_scored"] == 4, 30)
    assert server.stop() == 0  # SIGTERM: the server shuts down and takes its lane with it
    wait_for(lambda: not os.path.exists(f"/proc/{lane['pid']}"), 10)
