"""Against a real ``mlflow server`` process: register and resolve over HTTP, then the server goes down
and models keep coming from the local cache (and the service says so in /readyz and a metric)."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import deeptrust.settings
from deeptrust.cli import app
from deeptrust.registry import RegistryUnavailableError, Store, register, resolve_reference, set_alias
from deeptrust.serve.app import create_app
from deeptrust.serve.auth import KeyStore
from tests.registry.conftest import make_model
from tests.serve.conftest import make_settings


@pytest.fixture
def remote(mlflow_server, isolated_home, monkeypatch):
    uri, stop, root = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DEEPTRUST_MODEL_PATHS", json.dumps([str(isolated_home / "models")]))
    deeptrust.settings.get_settings.cache_clear()
    return uri, stop, root


def test_a_tracking_server_registers_resolves_and_then_serves_from_cache_when_down(
    remote, tmp_path, isolated_home
):
    uri, stop, root = remote
    admin = {
        "authorization": f"Bearer {KeyStore(isolated_home / 'api_keys.json').create('ops', role='admin')[1]}"
    }
    store = Store()
    assert store.remote and store.uri == uri
    version = register(make_model(tmp_path / "m", card_version="3.1.4"), name="remote-tiny")
    set_alias("remote-tiny", "champion", version)
    register(make_model(tmp_path / "n"), name="remote-tiny", alias="challenger")
    online = resolve_reference("remote-tiny")
    assert online.source == "registry" and online.version == 1
    assert list((root / "artifacts").rglob("model.onnx"))  # the artifacts went to the server's store
    with TestClient(create_app(make_settings(model="remote-tiny@champion"))) as client:
        assert client.get("/readyz").json()["registry"]["reachable"] is True
        swapped = client.post("/v1/models/reload", json={"model": "remote-tiny/2"}, headers=admin)
        assert swapped.status_code == 200 and client.app.state.service.holder.source == "remote-tiny/2"
        missing = client.post("/v1/models/reload", json={"model": "remote-tiny@staging"}, headers=admin)
        assert missing.status_code == 404 and "no alias 'staging'" in missing.json()["detail"]

    stop()
    started = time.monotonic()
    offline = resolve_reference("remote-tiny@champion")
    assert offline.source == "cache" and offline.path == online.path and offline.registry_reachable is False
    remembered = resolve_reference("remote-tiny@challenger")  # downloaded by the reload above
    assert (remembered.source, remembered.version) == ("cache", 2)
    with pytest.raises(RegistryUnavailableError, match=r"does not answer.*no copy of remote-tiny/3"):
        resolve_reference("remote-tiny/3")  # (whether or not it exists: nobody can say now)
    down = CliRunner().invoke(app, ["models", "list"])
    assert down.exit_code == 2 and "does not answer" in " ".join(down.output.split())
    assert time.monotonic() - started < 30  # refused in seconds, not after minutes of retries

    with TestClient(create_app(make_settings(model="remote-tiny"))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model"]["version"] == "3.1.4"
        expected = {"source": "cache", "version": 1, "reachable": False, "serving_from_cache": True}
        assert ready.json()["registry"] == expected | {"reference": "remote-tiny"}
        assert "deeptrust_registry_reachable 0.0" in client.get("/metrics").text
        refused = client.post("/v1/models/reload", json={"model": "remote-tiny/3"}, headers=admin)
        assert refused.status_code == 503 and refused.json()["type"].endswith("registry-unavailable")
        assert client.app.state.service.holder.source == "remote-tiny"  # the cached champion still serves
