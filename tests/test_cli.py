"""The top-level command: every concern is reachable, and `models` lists what is installed."""

import json

from typer.testing import CliRunner

import deeptrust.settings
from deeptrust.card import ModelCard, Preprocessing, save_card
from deeptrust.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "train", "evaluate", "export", "models"):
        assert command in result.output


def test_models_list_finds_models_on_the_search_path(tmp_path, monkeypatch):
    model_dir = tmp_path / "models" / "tiny"
    card = ModelCard(
        name="tiny",
        version="9.9",
        family="cnn_small",
        class_names=("FAKE", "REAL"),
        preprocessing=Preprocessing(input_size=32, crop="resize"),
    )
    save_card(card, model_dir)
    (model_dir / "model.onnx").write_bytes(b"")  # listing reads cards only
    (tmp_path / "models" / "no-weights").mkdir()
    save_card(card.replace(name="no-weights"), tmp_path / "models" / "no-weights")
    monkeypatch.setenv("DEEPTRUST_MODEL_PATHS", json.dumps([str(tmp_path / "models")]))
    deeptrust.settings.get_settings.cache_clear()
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    # the model directory became registry version 1 (champion); its card's own version is kept
    assert [r["name"] for r in rows] == ["tiny"] and rows[0]["card_version"] == "9.9"
    assert rows[0]["version"] == 1 and rows[0]["aliases"] == ["champion"] and rows[0]["gate"] == "not run"
    shown = runner.invoke(app, ["models", "show", str(model_dir)])
    assert json.loads(shown.output)["family"] == "cnn_small"


def test_bundled_models_are_listed_and_load():
    from deeptrust import Detector
    from deeptrust.settings import BUNDLED_MODELS

    shipped = {p.parent.name for p in BUNDLED_MODELS.glob("*/card.json")}
    assert shipped, "the repository ships its models under models/"
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    assert shipped <= {r["name"] for r in json.loads(result.output)}
    for name in shipped:
        assert Detector.load(name).card.name == name


def test_unknown_model_is_a_clear_error():
    result = runner.invoke(app, ["models", "show", "no-such-model"])
    assert result.exit_code == 2
    assert "no model named or at 'no-such-model'" in result.output


def test_train_with_a_missing_config_exits_2(tmp_path):
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no config file" in result.output


def test_export_without_a_run_exits_2(tmp_path):
    result = runner.invoke(app, ["export", "--run", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2


def test_annotate_attaches_test_metrics_and_findings(tmp_path):
    import shutil

    from deeptrust import load_card
    from deeptrust.settings import BUNDLED_MODELS

    source = next(BUNDLED_MODELS.glob("*/card.json")).parent
    model = tmp_path / "m"
    shutil.copytree(source, model)
    evaluation = {
        "accuracy": 0.9,
        "roc_auc": 0.95,
        "n": 10,
        "data": {"split": "test"},
        "robustness": {"jpeg50": {"n": 10, "accuracy": 0.8, "roc_auc": 0.9}},
    }
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    result = runner.invoke(
        app,
        [
            "models",
            "annotate",
            str(model),
            "--evaluation",
            str(tmp_path / "eval.json"),
            "--description",
            "checked",
            "--limitation",
            "tiny test",
        ],
    )
    assert result.exit_code == 0, result.output
    card = load_card(model)
    assert card == load_card(model / "model.onnx")  # the ONNX metadata copy follows
    assert card.metrics["test"]["accuracy"] == 0.9
    assert card.metrics["test"]["robustness"]["jpeg50"]["roc_auc"] == 0.9
    assert card.description == "checked" and card.limitations == ("tiny test",)
