"""The embedded registry: register → aliases → resolve, and every way a reference can be wrong."""

from __future__ import annotations

import pytest

from deeptrust.card import load_card
from deeptrust.detector import Detector
from deeptrust.registry import (
    ArtifactIntegrityError,
    PromotionRefusedError,
    RegistrationError,
    RegistryError,
    UnknownModelError,
    diff_versions,
    parse_reference,
    promote,
    record_gate,
    register,
    resolve_reference,
    rollback,
    set_alias,
)
from deeptrust.registry.register import file_sha256
from tests.registry.conftest import make_model


def test_references_parse_as_mlflow_uris():
    assert (
        str(parse_reference("photos")) == "photos" and parse_reference("photos").effective_alias == "champion"
    )
    assert parse_reference("photos@challenger").alias == "challenger"
    assert parse_reference("photos-1.0/3").version == 3
    for path_like in ("models/photos", "/abs/x", "a/b/c", "photos/0", "x@1bad", "..", "photos@"):
        assert parse_reference(path_like) is None, path_like


def test_register_records_hashes_and_provenance_and_resolves_every_form(store, tmp_path):
    model = make_model(tmp_path / "m", card_version="7.1.0")
    version = register(model, name="tiny")
    info = store.version("tiny", version)
    assert version == 1 and info.sha256["model.onnx"] == file_sha256(model / "model.onnx")
    assert info.tag("card.version") == "7.1.0" and len(info.tag("git.commit")) == 40
    assert info.tag("dataset.hash") == load_card(model).dataset["hash"]
    with pytest.raises(UnknownModelError, match="no alias 'champion'"):
        resolve_reference("tiny")  # registered, never promoted: no champion yet
    set_alias("tiny", "challenger", version)
    by_alias = resolve_reference("tiny@challenger")
    by_version = resolve_reference("tiny/1")
    assert by_alias.source == "registry" and by_alias.version == 1 and by_alias.path == by_version.path
    assert by_alias.path != model and file_sha256(by_alias.path / "model.onnx") == info.sha256["model.onnx"]
    assert Detector.load("tiny/1").card.version == "7.1.0"  # every --model goes through the resolver


def test_unknown_names_versions_and_aliases_say_what_exists(store, tmp_path):
    register(make_model(tmp_path / "m"), name="tiny", alias="challenger")
    with pytest.raises(
        UnknownModelError, match=r"no model named 'nope' in the registry \(registered: tiny\)"
    ):
        resolve_reference("nope@champion")
    with pytest.raises(UnknownModelError, match=r"has no version 9 \(versions: 1\)"):
        resolve_reference("tiny/9")
    with pytest.raises(UnknownModelError, match=r"no alias 'staging' \(its aliases: @challenger → 1\)"):
        resolve_reference("tiny@staging")
    with pytest.raises(UnknownModelError, match="not a model directory"):
        resolve_reference(str(tmp_path / "missing" / "dir"))
    with pytest.raises(RegistryError, match=r"cannot be a number|must start with a letter"):
        set_alias("tiny", "3", 1)
    with pytest.raises(UnknownModelError):
        set_alias("tiny", "champion", 5)  # an unknown version is refused before anything changes
    assert store.aliases("tiny") == {"challenger": 1}


def test_an_alias_left_pointing_at_a_deleted_version_is_a_clear_error(store, tmp_path):
    register(make_model(tmp_path / "a"), name="tiny")
    register(make_model(tmp_path / "b"), name="tiny", alias="challenger")
    store.client.delete_model_version("tiny", "2")  # MLflow drops the alias with it
    with pytest.raises(UnknownModelError, match="no alias 'challenger'"):
        resolve_reference("tiny@challenger")


def test_tampered_artifacts_are_refused_and_a_tampered_cache_is_fetched_again(store, tmp_path):
    register(make_model(tmp_path / "m"), name="tiny", alias="challenger")
    info = store.version("tiny", 1)
    cached = resolve_reference("tiny@challenger").path
    (cached / "card.json").write_text((cached / "card.json").read_text().replace("1.0.0", "6.6.6"))
    again = resolve_reference("tiny@challenger").path  # the local copy no longer matches: downloaded anew
    assert file_sha256(again / "card.json") == info.sha256["card.json"]
    stored = next((store.settings.home / "mlartifacts").rglob("model.onnx"))
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")  # the registry's own copy changed
    import shutil

    shutil.rmtree(again)
    with pytest.raises(ArtifactIntegrityError, match=r"model.onnx has sha256 .* tampered"):
        resolve_reference("tiny@challenger")
    assert not again.exists() and not list(again.parent.glob(".download-*"))  # nothing half-written


def test_nothing_is_half_registered(store, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RegistrationError, match=r"missing model.onnx, card.json"):
        register(empty, name="tiny")
    model = make_model(tmp_path / "m")
    client = store.client

    def refuse(*args, **kwargs):
        raise RuntimeError("the store failed half-way")

    monkeypatch.setattr(client, "create_model_version", refuse)
    with pytest.raises(RuntimeError, match="half-way"):
        register(model, name="tiny", store=store)
    assert store.names() == []  # no registered model without a version
    runs = client.search_runs([store.experiment_id()])
    assert runs == []  # the run holding the upload is deleted


def test_promote_needs_a_passed_gate_or_a_recorded_reason_and_rollback_walks_back(store, tmp_path):
    register(make_model(tmp_path / "a"), name="tiny")
    register(make_model(tmp_path / "b", card_version="2.0.0"), name="tiny")
    with pytest.raises(PromotionRefusedError, match="has not been through the quality gate"):
        promote("tiny", 1)
    record_gate("tiny", 1, passed=True, summary={"accuracy": 0.9}, suite="tiny@abc")
    promote("tiny", 1)
    record_gate("tiny", 2, passed=False, suite="tiny@abc")
    with pytest.raises(PromotionRefusedError, match="failed the quality gate"):
        promote("tiny", 2)
    with pytest.raises(PromotionRefusedError, match="needs --reason"):
        promote("tiny", 2, force=True)
    forced = promote("tiny", 2, force=True, reason="hotfix for incident 42")
    assert forced.tag("forced.reason") == "hotfix for incident 42"
    assert resolve_reference("tiny").version == 2
    assert rollback("tiny") == (2, 1) and resolve_reference("tiny").version == 1
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback("tiny")
    rows = {field: (a, b) for field, a, b in diff_versions("tiny", 1, 2)}
    assert rows["card version"] == ("1.0.0", "2.0.0") and rows["gate passed"] == ("true", "false")


def test_a_model_directory_on_the_search_path_becomes_version_1_on_first_use(store):
    make_model(store.settings.model_paths[0] / "local-model")
    resolution = resolve_reference("local-model@champion")
    assert resolution.source == "registry" and resolution.version == 1
    info = store.version("local-model", 1)
    assert info.aliases == ("champion",) and info.tag("origin") == "local"
    assert resolve_reference("local-model").path == resolution.path


def test_without_a_registry_a_bare_name_is_its_directory_and_nothing_is_created(isolated_home):
    resolution = resolve_reference("cifake")
    assert resolution.source == "local" and resolution.path.name == "cifake"
    assert not (isolated_home / "mlflow.db").exists()
    with pytest.raises(FileNotFoundError, match=r"no model named or at 'nope'; known models: .*cifake"):
        resolve_reference("nope")
    assert not (isolated_home / "mlflow.db").exists()
