from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import deeptrust.data
from deeptrust.evaluate.cli import evaluate
from deeptrust.settings import get_settings

REQUIRED = {
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "tpr_at_fpr_1pct",
    "tpr_at_fpr_5pct",
    "ece",
    "n",
}

app = typer.Typer()
app.command()(evaluate)
runner = CliRunner()


@pytest.fixture
def fake_data(monkeypatch: pytest.MonkeyPatch, image_manifest: pd.DataFrame) -> list[dict]:
    """Serve the test manifest instead of importing; 3 rows as if the import had excluded them."""
    calls: list[dict] = []
    excluded = image_manifest.iloc[:3].assign(reason="duplicate", error="")

    def ensure_dataset(src, **kwargs):  # type: ignore[no-untyped-def]
        calls.append({"src": src, **kwargs})
        if src != "tiny-set":
            raise deeptrust.data.DataError(f"{src!r} is neither a file or folder nor a dataset")
        return SimpleNamespace(manifest=image_manifest.iloc[3:], excluded=excluded)

    monkeypatch.setattr(deeptrust.data, "ensure_dataset", ensure_dataset, raising=False)
    return calls


def test_evaluate_writes_json_and_report(tiny_model_dir: Path, fake_data: list[dict], tmp_path: Path) -> None:
    out_json, out_html = tmp_path / "m.json", tmp_path / "r.html"
    args = [
        "-m",
        str(tiny_model_dir),
        "-d",
        "tiny-set",
        "--json",
        str(out_json),
        "--report",
        str(out_html),
    ]
    result = runner.invoke(app, [*args, "--robustness-limit", "8"])
    assert result.exit_code == 0, result.output
    for title in ("Overall", "Per source", "Robustness", "without_leaks", "jpeg50"):
        assert title in result.output
    metrics = json.loads(out_json.read_text())
    assert set(metrics) >= REQUIRED and "_scores" not in metrics
    assert metrics["n"] == 32  # the excluded rows are evaluated too
    assert metrics["data"]["import_excluded"] == {"duplicate": 3}
    assert metrics["data"]["dataset"] == "tiny-set"
    assert '<img src="data:image/png;base64,' in out_html.read_text()
    assert fake_data[0]["src"] == "tiny-set"


def test_limit_and_no_robustness(tiny_model_dir: Path, fake_data: list[dict], tmp_path: Path) -> None:
    out_json = tmp_path / "m.json"
    args = ["-m", str(tiny_model_dir), "-d", "tiny-set", "--limit", "10", "--no-robustness"]
    result = runner.invoke(app, [*args, "--json", str(out_json), "--split", "val"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    assert metrics["n"] == 8 and metrics["data"]["split"] == "val"  # val has 8 < 10 images
    assert "robustness" not in metrics and "Robustness" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "no-such-model", "-d", "tiny-set"], "cannot load model"),
        (["-d", "missing-set"], "cannot load data"),
        (["-d", "tiny-set", "--split", "holdout"], "available splits: test, val"),
    ],
)
def test_errors_exit_2_with_a_message(
    tiny_model_dir: Path, fake_data: list[dict], args: list[str], message: str
) -> None:
    if "-m" not in args:
        args = ["-m", str(tiny_model_dir), *args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # rich may wrap long lines


def test_end_to_end_with_a_real_import(
    tiny_model_dir: Path,
    image_manifest: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``deeptrust evaluate`` on a folder, through the real deeptrust.data importer."""
    if not hasattr(deeptrust.data, "ensure_dataset"):
        pytest.skip("deeptrust.data.ensure_dataset is not available yet")
    folder = tmp_path / "set"
    for row in image_manifest.itertuples():
        target = folder / row.split / row.label / Path(row.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(row.path, target)
    leaked = folder / "test" / "REAL" / "real_00.png"
    shutil.copy(leaked, folder / "val" / "REAL" / "copy_of_test.png")  # one test image leaks into val
    monkeypatch.setenv("DEEPTRUST_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        out_json = tmp_path / "m.json"
        args = [
            "-m",
            str(tiny_model_dir),
            "-d",
            str(folder),
            "--no-robustness",
            "--json",
            str(out_json),
        ]
        result = runner.invoke(app, args)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    assert metrics["n"] == 32 and metrics["subsets"]["without_leaks"]["n"] == 31


def test_default_data_is_the_models_own_split(tmp_path):
    from deeptrust.evaluate.cli import _dataset_args

    source = tmp_path / "photos.tar.gz"
    source.write_bytes(b"")
    own = {
        "name": "photos",
        "source": str(source),
        "options": {"val_fraction": 0.15, "test_fraction": 0.2, "seed": 0},
    }
    expected = {"name": "photos", "val_fraction": 0.15, "test_fraction": 0.2, "seed": 0}
    assert _dataset_args(None, own) == (str(source), expected)
    # The same file named another way still gets the model's split options ...
    assert _dataset_args(str(tmp_path / "." / "photos.tar.gz"), own)[1] == expected
    # ... while other data is imported with its own defaults.
    assert _dataset_args(str(tmp_path / "other"), own) == (str(tmp_path / "other"), {})


def test_a_combined_models_dataset_is_evaluated_with_that_parts_own_split(tmp_path) -> None:
    from deeptrust.evaluate.cli import _dataset_args

    archive = tmp_path / "multigen.tar.gz"
    archive.write_bytes(b"")
    card_dataset = {
        "name": "photos",
        "source": None,
        "parts": [
            {
                "name": "multigen",
                "source": str(archive),
                "options": {"val_fraction": 0.15, "test_fraction": 0.2, "seed": 0, "keep_leaks": False},
            },
        ],
    }
    expected = (str(archive), {"name": "multigen", "val_fraction": 0.15, "test_fraction": 0.2, "seed": 0})
    assert _dataset_args(str(archive), card_dataset) == expected
    assert _dataset_args("multigen", card_dataset) == expected
    assert _dataset_args(str(tmp_path / "other.tar.gz"), card_dataset) == (str(tmp_path / "other.tar.gz"), {})


def test_split_all_scores_every_image_and_prints_by_source(
    tiny_model_dir: Path, fake_data: list[dict], tmp_path: Path
) -> None:
    out_json = tmp_path / "m.json"
    args = ["-m", str(tiny_model_dir), "-d", "tiny-set", "--split", "all", "--no-robustness"]
    result = runner.invoke(app, [*args, "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    test_and_val = runner.invoke(app, [*args[:4], "--split", "test", "--no-robustness"])
    assert test_and_val.exit_code == 0
    assert metrics["n"] > 32 and metrics["data"]["split"] is None  # test (32) and val together
    assert "By source" in result.output and set(metrics["by_source"]) == {"camera", "gen_a", "gen_b"}


def test_an_unknown_protocol_or_a_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["--protocol", "k-fold", "--config", str(tmp_path / "c.yaml")])
    assert unknown.exit_code == 2 and "unknown protocol" in unknown.output
    missing = runner.invoke(app, ["--protocol", "leave-one-out"])
    assert missing.exit_code == 2 and "needs --config" in missing.output
