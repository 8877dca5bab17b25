"""``deeptrust monitor profile`` and ``deeptrust monitor drift``: the card gains a profile, the report
shows the drift, and an old card without a profile gets a clear message, not a traceback."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from deeptrust.card import load_card
from deeptrust.cli import app
from deeptrust.settings import BUNDLED_MODELS

runner = CliRunner()


def test_profile_then_drift_report(tmp_path, reference_folder, same_folder, drifted_folder):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODELS / "cifake", model)
    out = runner.invoke(
        app, ["monitor", "profile", "--model", str(model), "--data", str(reference_folder), "--split", "all"]
    )
    assert out.exit_code == 0, out.output
    assert "120 images" in out.output and "embedding 256 → 8 directions" in out.output
    assert load_card(model).drift_profile["n"] == 120

    same = runner.invoke(
        app, ["monitor", "drift", "--model", str(model), "--data", str(same_folder), "--fail-on-drift"]
    )
    assert same.exit_code == 0, same.output
    assert "no drift detected" in same.output

    report, js = tmp_path / "drift.html", tmp_path / "drift.json"
    args = ["monitor", "drift", "-m", str(model), "-d", str(drifted_folder), "--report", str(report)]
    drifted = runner.invoke(app, [*args, "--json", str(js), "--window", "60", "--fail-on-drift"])
    assert drifted.exit_code == 1, drifted.output
    result = json.loads(js.read_text())
    assert {"width", "format", "embedding"} <= set(result["drifting"])
    assert result["signals"]["width"]["statistic"] > result["signals"]["width"]["threshold"]
    assert len(result["windows"]) == 2 and all(w["drifting"] for w in result["windows"])
    page = report.read_text()
    assert "Drift in" in page and page.count("data:image/png;base64,") >= 9  # 8 signals + the timeline


def test_drift_on_a_card_without_a_profile_is_a_clear_error(same_folder):
    out = runner.invoke(app, ["monitor", "drift", "--model", "cifake", "--data", str(same_folder)])
    assert out.exit_code == 2
    assert "carries no reference profile" in out.output and "deeptrust monitor profile" in out.output
    assert "Traceback" not in out.output


def test_profile_of_missing_data_or_model_is_a_clear_error(tmp_path, reference_folder):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODELS / "cifake", model)
    before = (model / "card.json").read_bytes()
    missing = runner.invoke(app, ["monitor", "profile", "-m", str(model), "-d", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "cannot load data" in missing.output
    unknown = runner.invoke(app, ["monitor", "profile", "-m", "no-such-model", "-d", str(reference_folder)])
    assert unknown.exit_code == 2 and "cannot load model" in unknown.output
    split = runner.invoke(
        app, ["monitor", "profile", "-m", str(model), "-d", str(reference_folder), "--split", "nosuch"]
    )
    assert split.exit_code == 2 and "no split 'nosuch'" in " ".join(split.output.split())
    assert (model / "card.json").read_bytes() == before  # nothing half-written
