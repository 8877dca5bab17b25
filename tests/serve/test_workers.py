"""``deeptrust serve --workers 2``: real uvicorn worker processes behind one port."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deeptrust.serve.workers import SharedModel

from .conftest import REPO, Traffic, jpeg_bytes

pytestmark = pytest.mark.slow
JPEG = {"content-type": "image/jpeg"}


def served_by(runtime_dir) -> dict[str, float]:
    """Predictions answered per worker pid, read from each worker's own multiprocess metric files."""
    from prometheus_client import CollectorRegistry, multiprocess

    files = list((runtime_dir / "metrics").glob("*.db"))
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
        counts[pid] = total(families, "deeptrust_http_requests_total", route="/v1/predict", status="200")
    return counts


def total(families, sample_name: str, **labels: str) -> float:
    """The sum of the samples called ``sample_name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in families
        for s in family.samples
        if s.name == sample_name and labels.items() <= s.labels.items()
    )


def metric(text: str, sample_name: str, **labels: str) -> float:
    return total(text_string_to_metric_families(text), sample_name, **labels)


@pytest.fixture
def two_workers(server_factory, tmp_path):
    runtime = tmp_path / "runtime"
    env = {"DEEPTRUST_RUNTIME_DIR": str(runtime), "DEEPTRUST_LOCAL_ADMIN": "true"}  # anonymous reloads
    server = server_factory(args=("--workers", "2"), env=env)
    return server.wait_ready(), runtime


def test_metrics_add_up_across_workers(two_workers):
    server, runtime = two_workers
    n = 0
    # A new connection each time; the kernel decides which worker accepts it, so go on until both have.
    while n < 24 or (min(served_by(runtime).values(), default=0) == 0 and n < 400):
        r = httpx.post(server.url + "/v1/predict", content=jpeg_bytes(seed=n), headers=JPEG)
        assert r.status_code == 200
        n += 1
    per_worker = served_by(runtime)
    assert len(per_worker) == 2 and min(per_worker.values()) > 0 and sum(per_worker.values()) == n
    text = httpx.get(server.url + "/metrics").text
    # Whichever worker answers the scrape reports every worker's requests.
    assert metric(text, "deeptrust_http_requests_total", route="/v1/predict", status="200") == n
    assert metric(text, "deeptrust_prediction_p_ai_count") == n
    assert metric(text, "deeptrust_model_info", name="cifake") == 1


def test_reload_reaches_every_worker_without_dropping_requests(two_workers):
    server, runtime = two_workers
    with Traffic(server.url, new_connections=True) as traffic:  # new connections: both workers
        time.sleep(0.5)
        r = httpx.post(server.url + "/v1/models/reload", json={"model": "photos"}, timeout=60)
        assert r.status_code == 200 and r.json()["name"] == "photos"
        assert SharedModel(runtime).read().model == "photos"
        time.sleep(3)  # followers poll every 0.25 s and load the model in ~1 s
        settled = len(traffic.models)
        time.sleep(1.5)
    assert traffic.statuses and set(traffic.statuses) == {200}
    assert "cifake" in traffic.models[:settled]
    assert set(traffic.models[settled:]) == {"photos"}  # every worker serves the new model now
    text = httpx.get(server.url + "/metrics").text
    assert metric(text, "deeptrust_model_reloads_total") == 2  # once per worker
    assert metric(text, "deeptrust_model_info", name="photos") == 1
    assert metric(text, "deeptrust_model_info", name="cifake") == 0


def test_sigterm_stops_every_worker_and_exits_0(two_workers):
    server, runtime = two_workers
    httpx.post(server.url + "/v1/predict", content=jpeg_bytes(), headers=JPEG).raise_for_status()
    workers = set(served_by(runtime)) | {
        pid
        for pid in children_of(server.proc.pid)
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    }
    assert len(workers) == 2
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def children_of(pid: int) -> set[str]:
    return set(subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split())


def test_in_memory_rate_limits_are_refused_with_several_workers(isolated_home):
    env = {
        "DEEPTRUST_HOME": str(isolated_home),
        "DEEPTRUST_MODEL": "cifake",
        "DEEPTRUST_RATE_LIMIT_PER_S": "5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "deeptrust.cli", "serve", "--workers", "2", "--port", "0"],
        cwd=REPO, env=os.environ | env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "DEEPTRUST_REDIS_URL" in result.stderr


def test_published_model_generations_increase(tmp_path):
    shared = SharedModel(tmp_path)
    assert shared.read() is None
    assert shared.publish("photos").generation == 1
    assert shared.publish("cifake").generation == 2
    assert shared.read().model == "cifake"
