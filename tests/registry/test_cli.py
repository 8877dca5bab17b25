"""The registry from the command line: ``models list/show/promote/rollback/diff`` and ``--model REF``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.registry import record_gate, register
from tests.conftest import make_image_folder
from tests.registry.conftest import make_model

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_models_commands_show_versions_aliases_gates_and_hashes(store, tmp_path, monkeypatch):
    register(make_model(tmp_path / "a"), name="tiny")
    register(make_model(tmp_path / "b", card_version="2.0.0"), name="tiny", alias="challenger")
    record_gate("tiny", 1, passed=True, suite="tiny@v1:abc")
    refused = runner.invoke(app, ["models", "promote", "tiny", "2"])
    assert refused.exit_code == 2 and "has not been through the quality gate" in _flat(refused.output)
    assert runner.invoke(app, ["models", "promote", "tiny", "1"]).exit_code == 0
    forced = runner.invoke(app, ["models", "promote", "tiny", "2", "--force", "--reason", "incident 7"])
    assert forced.exit_code == 0 and "forced: incident 7" in forced.output

    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    by_version = {r["version"]: r for r in rows}
    assert by_version[1]["gate"] == "passed" and by_version[2]["gate"] == "not run"
    assert by_version[2]["aliases"] == ["challenger", "champion"] and by_version[2]["forced"] == "incident 7"
    assert by_version[1]["dataset_hash"] and len(by_version[1]["git_commit"]) == 40
    monkeypatch.setenv("COLUMNS", "200")
    table = runner.invoke(app, ["models", "list"]).output
    assert "@champion" in table and "passed" in table and by_version[1]["dataset_hash"][:12] in table

    shown = json.loads(runner.invoke(app, ["models", "show", "tiny@challenger"]).output)
    assert shown["version"] == "2.0.0" and shown["registry"]["version"] == 2
    rolled = runner.invoke(app, ["models", "rollback", "tiny"])
    assert rolled.exit_code == 0 and "version 2 → version 1" in rolled.output
    diff = json.loads(runner.invoke(app, ["models", "diff", "tiny", "1", "2", "--json"]).output)
    assert {"field": "card version", "1": "1.0.0", "2": "2.0.0"} in diff
    for bad, message in (
        (["models", "show", "tiny/7"], "has no version 7"),
        (["models", "show", "tiny@gone"], "no alias 'gone'"),
        (["models", "promote", "nope", "1"], "is not in the registry"),
        (["models", "rollback", "tiny"], "nothing to roll back to"),
    ):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2 and message in _flat(result.output), (bad, result.output)


def test_model_flags_take_registry_references(store, tmp_path):
    register(make_model(tmp_path / "a", card_version="4.2.0"), name="tiny", alias="challenger")
    images = make_image_folder(tmp_path / "imgs", per_class=3)
    out = tmp_path / "scan.csv"
    result = runner.invoke(
        app, ["scan", str(images), "-m", "tiny@challenger", "-o", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "4.2.0" in out.read_text()  # the scan ran the version the alias points at
    missing = runner.invoke(app, ["scan", str(images), "-m", "tiny@champion", "-o", str(tmp_path / "x.csv")])
    assert missing.exit_code == 2 and "no alias 'champion'" in _flat(missing.output)
