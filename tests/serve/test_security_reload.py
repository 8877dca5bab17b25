"""``POST /v1/models/reload`` loads only models from where models live; ``/v1/models`` keeps paths to admins
(issue 17, finding 3)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deeptrust.registry import ModelNotAllowedError, resolve_trusted
from deeptrust.serve.app import create_app
from deeptrust.serve.auth import KeyStore
from deeptrust.settings import BUNDLED_MODELS

from .conftest import make_settings

PROBLEM = "application/problem+json"


@pytest.fixture
def admin_app(isolated_home, tmp_path) -> Iterator:
    """``start(**settings)`` → (client, admin headers, user headers); search paths: home/models, bundled."""
    clients: list[TestClient] = []
    store = KeyStore(isolated_home / "api_keys.json")
    admin = {"authorization": f"Bearer {store.create('ops', role='admin')[1]}"}
    user = {"authorization": f"Bearer {store.create('someone')[1]}"}

    def start(**overrides) -> tuple[TestClient, dict, dict]:
        paths = [isolated_home / "models", BUNDLED_MODELS]
        c = TestClient(create_app(make_settings(model_paths=paths, **overrides)))
        clients.append(c.__enter__())
        return c, admin, user

    yield start
    for c in clients:
        c.__exit__(None, None, None)


def copy_model(to: Path, name: str = "cifake") -> Path:
    return Path(shutil.copytree(BUNDLED_MODELS / "cifake", to / name))


def assert_problem(r, status: int, type_: str, *, hides: tuple[str, ...] = ()) -> None:
    assert r.status_code == status and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["type"].endswith(type_), r.json()
    for secret in hides:
        assert secret not in r.text, f"{secret!r} leaked in {r.text}"


def test_an_absolute_path_outside_the_search_paths_is_refused(admin_app, tmp_path):
    c, admin, _ = admin_app()
    planted = copy_model(tmp_path / "attacker")  # a valid model, placed where nobody vetted it
    for ref in (str(planted), str(planted / "model.onnx"), "../" * 12 + str(planted).lstrip("/")):
        r = c.post("/v1/models/reload", json={"model": ref}, headers=admin)
        assert_problem(r, 422, "model-not-allowed")
        assert "DEEPTRUST_RELOAD_ALLOW_DIRS" in r.json()["detail"]
    assert c.app.state.service.holder.source == "cifake"  # nothing was loaded


def test_a_symlink_in_a_search_path_to_a_model_elsewhere_is_refused(admin_app, isolated_home, tmp_path):
    c, admin, _ = admin_app()
    planted = copy_model(tmp_path / "attacker")
    (isolated_home / "models").mkdir()
    (isolated_home / "models" / "innocent").symlink_to(planted)
    r = c.post("/v1/models/reload", json={"model": str(isolated_home / "models" / "innocent")}, headers=admin)
    assert_problem(r, 422, "model-not-allowed")


def test_names_and_allow_listed_directories_load(admin_app, tmp_path):
    vetted = tmp_path / "vetted"
    c, admin, _ = admin_app(reload_allow_dirs=[vetted])
    model = copy_model(vetted, "cifake-v2")
    r = c.post("/v1/models/reload", json={"model": str(model)}, headers=admin)
    assert r.status_code == 200 and r.json()["name"] == "cifake"
    assert c.app.state.service.holder.source == str(model.resolve())
    assert c.post("/v1/models/reload", json={"model": "photos"}, headers=admin).json()["name"] == "photos"
    unknown = c.post("/v1/models/reload", json={"model": "nope"}, headers=admin)
    assert_problem(unknown, 404, "unknown-model", hides=(str(BUNDLED_MODELS),))
    assert "known models: " in unknown.json()["detail"] and "photos" in unknown.json()["detail"]


def test_a_garbage_model_is_a_problem_and_the_old_model_stays(admin_app, tmp_path):
    vetted = tmp_path / "vetted"
    c, admin, _ = admin_app(reload_allow_dirs=[vetted])
    broken = copy_model(vetted, "broken")
    (broken / "model.onnx").write_bytes(b"<html>not a model</html>")
    r = c.post("/v1/models/reload", json={"model": str(broken)}, headers=admin)
    assert_problem(r, 422, "model-load-failed", hides=(str(tmp_path), str(BUNDLED_MODELS), "Traceback"))
    (broken / "card.json").write_text("{not json")
    r = c.post("/v1/models/reload", json={"model": str(broken)}, headers=admin)
    assert_problem(r, 422, "model-load-failed", hides=(str(tmp_path),))
    assert c.app.state.service.holder.current.card.name == "cifake"
    ok = c.post("/v1/predict", files={"file": ("x.png", _png(), "image/png")}, headers=admin)
    assert ok.status_code == 200 and ok.json()["model"]["name"] == "cifake"


def test_a_broken_card_on_the_search_path_does_not_break_listing_or_reload(admin_app, isolated_home):
    c, admin, _ = admin_app()
    broken = copy_model(isolated_home / "models", "broken")
    (broken / "card.json").write_text("{not json")
    assert c.get("/v1/models", headers=admin).status_code == 200
    assert c.post("/v1/models/reload", json={"model": "photos"}, headers=admin).status_code == 200


def test_model_listing_shows_paths_to_admins_only(admin_app, isolated_home, tmp_path):
    c, admin, user = admin_app()
    mine = copy_model(isolated_home / "models", "mine")
    card = (
        (mine / "card.json").read_text().replace("../shared/datasets/cifake.tar.gz", "/srv/secret/d.tar.gz")
    )
    (mine / "card.json").write_text(card)
    as_admin = c.get("/v1/models", headers=admin).json()["models"]
    assert any(m.get("path") == str(mine) for m in as_admin)
    as_user = c.get("/v1/models", headers=user)
    assert as_user.status_code == 200 and all("path" not in m for m in as_user.json()["models"])
    assert str(isolated_home) not in as_user.text and str(BUNDLED_MODELS) not in as_user.text
    assert "/srv/secret" not in as_user.text and '"d.tar.gz"' in as_user.text
    assert {m["name"] for m in as_user.json()["models"]} == {m["name"] for m in as_admin}


def test_resolve_trusted_rules(tmp_path):
    paths = [BUNDLED_MODELS]
    assert resolve_trusted("photos", paths=paths) == "photos"
    assert resolve_trusted(str(BUNDLED_MODELS / "photos"), paths=paths) == str(BUNDLED_MODELS / "photos")
    with pytest.raises(ModelNotAllowedError):
        resolve_trusted(str(BUNDLED_MODELS / ".." / "README.md"), paths=paths)
    with pytest.raises(FileNotFoundError):
        resolve_trusted(str(BUNDLED_MODELS / "nothing-here"), paths=paths)
    with pytest.raises(FileNotFoundError, match="known models"):
        resolve_trusted("cifake.onnx", paths=paths)  # a bare file name is a name, not a path


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (120, 30, 200)).save(buf, format="PNG")
    return buf.getvalue()
