"""The deployment files, checked without a Docker engine: ``deploy/compose.yaml`` against the compose-spec
JSON schema (check-jsonschema's vendored copy) and against the repository (mounted files exist, the
service's variables are settings it reads), Prometheus's and Grafana's configuration, and ``make monitor``
starting a real Prometheus with every rule loaded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from deeptrust.monitor.dashboards import DATASOURCE
from deeptrust.settings import Settings
from tests.monitor._prom import PROMETHEUS_DIR, REPO, require, rules
from tests.serve.conftest import free_port

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("check-jsonschema")
    cmd = [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_spec():
    done = check_compose_schema(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("before", "after"),
    [("    image: postgres:16\n", "    imagee: postgres:16\n"), ("services:\n", "servics:\n")],
)
def test_the_schema_check_catches_mistakes(tmp_path, before, after):
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace(before, after, 1))
    assert check_compose_schema(broken).returncode != 0


def test_the_stack_has_every_part_and_its_files():
    services = compose()["services"]
    assert {"deeptrust", "postgres", "redis", "prometheus", "grafana", "mlflow"} <= set(services)
    build = services["deeptrust"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"


def test_the_service_environment_names_real_settings():
    env = compose()["services"]["deeptrust"]["environment"]
    known = {f"DEEPTRUST_{name.upper()}" for name in Settings.model_fields}
    known |= {"DEEPTRUST_MLFLOW_TRACKING_URI"}  # an alias of mlflow_tracking_uri
    assert set(env) - known == set()
    # the hosts Prometheus and Grafana use to reach it are allowed (SiteGuard)
    assert "deeptrust" in env["DEEPTRUST_ALLOWED_HOSTS"].split(",")


def test_prometheus_config_is_valid_and_scrapes_the_compose_service():
    done = subprocess.run(
        [require("promtool"), "check", "config", "prometheus.yml"],
        cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["job_name"] == "deeptrust"  # the rules select job="deeptrust"
    host, port = job["static_configs"][0]["targets"][0].split(":")
    assert host in compose()["services"] and port == "8000"


def test_grafana_provisioning_matches_the_dashboards():
    grafana = DEPLOY / "grafana"
    source = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())["datasources"][
        0
    ]
    assert source["uid"] == DATASOURCE["uid"] and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((grafana / "provisioning/dashboards/deeptrust.yml").read_text())["providers"][0]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    for path in (grafana / "dashboards").glob("*.json"):
        model = json.loads(path.read_text())
        uids = {p["datasource"]["uid"] for p in model["panels"] if "datasource" in p}
        assert uids == {DATASOURCE["uid"]}


@pytest.mark.slow
def test_make_monitor_starts_prometheus_with_every_rule(tmp_path):
    require("prometheus")
    port = free_port()
    cmd = ["make", "--no-print-directory", "monitor", f"MONITOR_DIR={tmp_path}", f"PROMETHEUS_PORT={port}",
           "MONITOR_TARGET=127.0.0.1:18000"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        groups = httpx.get(url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
        loaded = {r["name"] for g in groups for r in g["rules"]}
        assert loaded == set(rules("alert")) | set(rules("record"))
        for _ in range(50):  # service discovery hands the target over shortly after start
            targets = httpx.get(url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            if targets:
                break
            time.sleep(0.2)
        assert [t["scrapeUrl"] for t in targets] == ["http://127.0.0.1:18000/metrics"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert re.search(rb"Server is ready to receive web requests", proc.stdout.read() if proc.stdout else b"")
