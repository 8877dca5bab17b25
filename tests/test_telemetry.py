"""No calls home: importing deeptrust turns ONNX Runtime's telemetry off (ORT 1.29+ sends it on Linux)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

CHILD = """
import time, deeptrust
detector = deeptrust.Detector.load("cifake")
time.sleep(13)  # ORT's uploader looks its server up ~9 s after the first session
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    return env | extra


def test_importing_deeptrust_sets_the_opt_out_unless_told_otherwise():
    code = "import os, deeptrust; print(os.environ.get('ORT_DISABLE_TELEMETRY'))"
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)  # noqa: E731
    assert run(child_env()).stdout.strip() == "1"
    assert run(child_env(ORT_DISABLE_TELEMETRY="0")).stdout.strip() == "0"


def test_importing_deeptrust_turns_mlflow_telemetry_off():
    # mlflow's own switch (is_telemetry_disabled() is also True under CI/pytest, so it could not fail here)
    code = (
        "import deeptrust; from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY as v; "
        "print(v.get())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch connect() calls")
def test_a_loaded_model_connects_nowhere():
    """Both children at once (~14 s): ORT opted back in must connect (so the check can fail), ours not."""

    def start(env: dict[str, str]) -> subprocess.Popen[str]:
        cmd = ["strace", "-f", "-qq", "-e", "trace=connect", sys.executable, "-c", CHILD]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    control, ours = start(child_env(ORT_DISABLE_TELEMETRY="0")), start(child_env())
    calls = {}
    for name, proc in (("control", control), ("ours", ours)):
        _, err = proc.communicate(timeout=120)
        calls[name] = [line for line in err.splitlines() if "AF_INET" in line]
    if not calls["control"]:
        pytest.skip("ONNX Runtime made no connection even when allowed to (a build without telemetry)")
    assert calls["ours"] == [], calls["ours"]
