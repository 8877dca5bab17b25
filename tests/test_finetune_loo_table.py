"""benchmarks/finetune_loo_table.py: batches of fine-tune folds joined into one protocol table for a card."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from deeptrust import load_card
from deeptrust.cli import app
from deeptrust.settings import BUNDLED_MODELS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_loo_table.py"


def fold(held: str, n: int, auc: float, rate: float, real: bool) -> dict:
    key = "fpr" if real else "tpr"
    return {"held_out": held, "n": n, "roc_auc": auc, f"{key}_at_0.01": rate, f"{key}_at_0.02": rate + 0.1}


def batch(path: Path, label: str, by: str, *folds: dict) -> Path:
    body = {"config": "configs/photos.yaml", "epochs": 4, "label": label, "by": by, "folds": list(folds)}
    path.write_text(json.dumps(body))
    return path


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_folds_of_sources_and_datasets_become_a_second_table_on_the_card(tmp_path: Path) -> None:
    real = batch(tmp_path / "r.json", "REAL", "source", fold("portraits", 502, 0.68, 0.26, True))
    fake = batch(tmp_path / "f.json", "FAKE", "source", fold("sd2", 18, 0.80, 0.0, False))
    whole = batch(tmp_path / "d.json", "REAL", "dataset", fold("photos-1.0-data", 311, 0.73, 0.16, True))
    out = tmp_path / "loo.json"
    done = run(real, fake, whole, "--rule", "0.01", "--protocol", "leave-one-out-shipped", "--json", out)
    assert done.returncode == 0, done.stderr
    body = json.loads(out.read_text())
    assert (body["protocol"], body["by"], body["rule"]) == ("leave-one-out-shipped", "group", "0.01")
    groups = {g["group"]: g for g in body["groups"]}
    assert set(groups) == {"portraits/REAL", "sd2/FAKE", "photos-1.0-data/REAL"}
    assert groups["photos-1.0-data/REAL"]["fpr_at_threshold"] == 0.16  # the 1 % rule, not the 2 % one
    assert groups["sd2/FAKE"]["tpr_at_threshold"] == 0.0

    model = tmp_path / "m"
    shutil.copytree(BUNDLED_MODELS / "photos", model)
    before = load_card(model).metrics
    result = CliRunner().invoke(app, ["models", "annotate", str(model), "--protocol", str(out)])
    assert result.exit_code == 0, result.output
    metrics = load_card(model).metrics
    assert metrics["leave-one-out-shipped_by_group"]["summary"] == body["summary"]
    assert metrics["leave-one-out_by_source"] == before["leave-one-out_by_source"]  # the first table stays


def test_a_group_in_two_batches_or_a_missing_rule_is_refused(tmp_path: Path) -> None:
    one = batch(tmp_path / "1.json", "REAL", "source", fold("pets", 560, 0.98, 0.0, True))
    two = batch(tmp_path / "2.json", "REAL", "source", fold("pets", 560, 0.97, 0.01, True))
    done = run(one, two, "--rule", "0.01")
    assert done.returncode != 0 and "held out in more than one file: pets/REAL" in done.stderr
    done = run(one, "--rule", "0.05")
    assert done.returncode != 0 and "not scored at '0.05'" in done.stderr
