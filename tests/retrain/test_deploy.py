"""The schedule trigger's Kubernetes manifest validates against the Kubernetes API schema (strict: no
unknown fields), and asks for what the service answers: POST /v1/admin/retrain with an admin key."""

from __future__ import annotations

import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from ..serve.conftest import REPO

MANIFEST = REPO / "deploy" / "kubernetes" / "retrain-cronjob.yaml"


def test_cronjob_is_valid_kubernetes() -> None:
    cronjob = yaml.safe_load(MANIFEST.read_text())
    kubernetes_validate.validate(cronjob, "1.30.0", strict=True)  # raises on any schema error
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"] == "0 3 * * *"
    script = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "/v1/admin/retrain" in script and "min_new_reviewed" in script and "202|409|422" in script


def test_kustomize_builds_it() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (the schema check above still ran)")
    built = subprocess.run(
        ["kubectl", "kustomize", str(MANIFEST.parent)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    assert yaml.safe_load(built.stdout)["kind"] == "CronJob"
