"""End to end: a real Prometheus server (Debian's package) with the rules of ``deploy/prometheus/``
scrapes a real ``deeptrust serve`` process while ``deeptrust simulate`` switches from traffic like the
model's reference data to other images; the drift alerts go to firing, as ``/api/v1/alerts`` says.

The same process's ``/metrics`` is compared with every name the dashboards and rules read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from deeptrust.monitor.boards import DASHBOARDS, DRIFT, SERVICE
from deeptrust.monitor.dashboards import concrete
from deeptrust.monitor.render import render_dashboard
from tests.monitor._prom import RULE_FILES, exported_names, metric_names, require, rules
from tests.serve.conftest import REPO, ServerProcess, free_port

pytestmark = pytest.mark.slow

# Small windows so that a switch is seen within seconds: the service tests every second once 60 images
# are in the window of 100; the alert then fires at the next rule evaluation (1 s here).
DRIFT_ENV = {
    "DEEPTRUST_DRIFT_WINDOW": "100",
    "DEEPTRUST_DRIFT_MIN_WINDOW": "60",
    "DEEPTRUST_DRIFT_INTERVAL_S": "1",
    "DEEPTRUST_DRIFT_PERMUTATIONS": "100",
    "DEEPTRUST_MAX_QUEUE": "256",  # a loaded CI machine may stall a second; shedding is not under test here
}
DRIFT_ALERTS = {"DeeptrustScoreDrift", "DeeptrustEmbeddingDrift", "DeeptrustImagePropertyDrift"}


class PrometheusProcess:
    """``prometheus`` with the repository's rule files, scraping one target every second."""

    def __init__(self, workdir: Path, target: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in RULE_FILES],
            "scrape_configs": [{"job_name": "deeptrust", "static_configs": [{"targets": [target]}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        cmd = [
            require("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30) -> PrometheusProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready:\n{self.log.read_text()}")

    def query(self, expr: str) -> list[dict]:
        body = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return httpx.get(self.url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, profiled_model) -> Iterator[tuple[ServerProcess, PrometheusProcess]]:
    home = tmp_path_factory.mktemp("e2e-home")
    server = ServerProcess(home, env={"DEEPTRUST_MODEL": str(profiled_model)} | DRIFT_ENV)
    prometheus = PrometheusProcess(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{server.port}")
    try:
        server.wait_ready()
        prometheus.wait_ready()
        yield server, prometheus
    finally:
        prometheus.stop()
        server.stop()


def firing(prometheus: PrometheusProcess) -> set[str]:
    return {a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"}


def test_switching_sources_fires_the_drift_alert(stack, same_folder, drifted_folder, tmp_path):
    server, prometheus = stack
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "deeptrust.cli", "simulate", "--url", server.url, "--data", str(same_folder),
           "--rate", "25", "--duration", "14s", "--drift-after", "6s", "--drift-data", str(drifted_folder),
           "--json", str(out), "--no-progress"]  # fmt: skip
    simulator = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    before_switch: set[str] = set()
    fired_at = None
    while time.monotonic() - started < 45:
        now = firing(prometheus)
        if time.monotonic() - started < 5.5:
            before_switch |= now & DRIFT_ALERTS  # traffic like the reference: nothing may fire
        elif now & DRIFT_ALERTS:
            fired_at = time.monotonic() - started
            break
        time.sleep(0.5)
    output, _ = simulator.communicate(timeout=60)
    assert simulator.returncode == 0, output
    assert before_switch == set()
    assert fired_at is not None, f"no drift alert fired; firing: {firing(prometheus)}\n{output}"
    alert = next(a for a in prometheus.alerts() if a["labels"]["alertname"] in DRIFT_ALERTS)
    assert alert["labels"]["model"] == "cifake" and alert["labels"]["severity"] == "ticket"
    summary = json.loads(out.read_text())
    assert summary["requests"] == 350 and summary["answered"] >= 0.95 * 350, summary["statuses"]
    assert list(summary["phases"]) == ["same", "drift"]
    print(f"drift alert firing {fired_at:.1f} s after the simulator started (switch at 6 s)")
    # Prometheus saw the traffic through the recording rules too
    assert prometheus.query('job:deeptrust_predict_latency_seconds:p95_5m{job="deeptrust"}')
    assert float(prometheus.query("up")[0]["value"][1]) == 1
    # and the dashboards draw from it without Grafana (the README's screenshots are these pages)
    for board, title in ((DRIFT, "statistic over threshold, by signal (drift above 1)"),
                         (SERVICE, "p95 latency of /v1/predict (SLO 150 ms)")):  # fmt: skip
        page, data = render_dashboard(prometheus.url, board, minutes=2)
        drawn = dict(zip((p.title for p in board.panels), data, strict=True))
        assert any(s.points for s in drawn[title]) and page.count("<svg") >= 2


def test_dashboards_and_rules_read_only_exported_metrics(stack):
    server, _ = stack
    httpx.post(server.url + "/v1/predict", content=b"not an image", headers={"content-type": "image/jpeg"})
    exported = exported_names(httpx.get(server.url + "/metrics").text) | {"up"}
    recorded = set(rules("record"))
    read: dict[str, set[str]] = {}
    for board in DASHBOARDS:
        for panel in board.panels:
            for expr, _ in panel.exprs:
                read[f"{board.uid}: {panel.title}"] = metric_names(concrete(expr))
    for name, expr in {**rules("record"), **rules("alert")}.items():
        read[f"rule {name}"] = metric_names(expr)
    missing = {
        where: names - exported - recorded for where, names in read.items() if names - exported - recorded
    }
    assert missing == {}
    assert {"deeptrust_drift_statistic", "deeptrust_ready", "deeptrust_http_requests_total"} <= exported
