"""A registry per test without paying for MLflow's migrations each time, and small models to register.

The first test of the session creates one empty, migrated SQLite store; every test copies that file
into its own home (milliseconds instead of seconds). Models are copies of the bundled ``cifake``
(884 KB) with a different card version, so a "new version" is a real, loadable model.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import deeptrust.settings
from deeptrust.card import load_card, save_card
from deeptrust.settings import BUNDLED_MODELS


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates
    return path


@pytest.fixture
def store(isolated_home, empty_store, monkeypatch):
    """A fresh embedded registry in this test's home, with only the tests' models on the search path."""
    from deeptrust.registry import Store

    shutil.copy(empty_store, isolated_home / "mlflow.db")
    models = isolated_home / "models"
    models.mkdir(exist_ok=True)
    monkeypatch.setenv("DEEPTRUST_MODEL_PATHS", json.dumps([str(models)]))
    deeptrust.settings.get_settings.cache_clear()
    return Store()


def make_model(directory: Path, *, card_version: str = "1.0.0", **changes) -> Path:
    """A copy of the bundled cifake model whose card says ``card_version`` (and any other changes)."""
    shutil.copytree(BUNDLED_MODELS / "cifake", directory, ignore=shutil.ignore_patterns("*.html", "*.json"))
    card = load_card(BUNDLED_MODELS / "cifake").replace(version=card_version, **changes)
    save_card(card, directory)
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (SQLite backend, served artifacts) on a free port; yields its URI and
    a function that stops it (the registry going down)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    log = open(root / "server.log", "wb")  # noqa: SIM115 (closed below)
    # Its own process group: mlflow server forks workers, and "the registry goes down" must stop them all.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("mlflow server did not answer /health within 120 s")

    def stop() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this fixture started, nothing else
            process.wait(timeout=30)

    yield uri, stop, root
    stop()
    log.close()
