"""``deeptrust gate``: floors, non-regression against the champion, reports, recording, refusals."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from deeptrust.card import load_card, save_card
from deeptrust.cli import app
from deeptrust.gate import GateError, SuiteError, run_gate
from deeptrust.registry import PromotionRefusedError, promote, register, resolve_reference

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps console lines at the runner's width."""
    return " ".join(text.split())


def test_a_good_first_version_passes_on_floors_then_a_worse_one_fails_against_it(world):
    store, suite = world["store"], str(world["suite"])
    register(world["good"], name="tiny")
    first = run_gate("tiny/1", suite=suite, freeze=True, out_dir=world["tmp"] / "g1")
    assert first.passed and first.recorded and first.champion is None
    assert any("no champion" in n for n in first.notes)
    frozen = yaml.safe_load(world["suite"].read_text())["data"][0]["sha256"]
    assert len(frozen) == 64 and first.suite.startswith("tiny@v1:")
    assert first.suite != "tiny@v1:e3b0c44298fc"  # the identity covers the frozen hash, not an empty one
    assert store.version("tiny", 1).gate is True
    promote("tiny", 1)

    register(world["worse"], name="tiny")
    result = runner.invoke(app, ["gate", "tiny/2", "--suite", suite, "--out", str(world["tmp"] / "g2")])
    assert result.exit_code == 1, result.output
    report = json.loads((world["tmp"] / "g2" / "gate.json").read_text())
    failed = {
        (c["kind"], c["slice"], c["metric"]) for c in report["checks"] if not c["passed"] and c["gating"]
    }
    assert ("floor", "overall", "accuracy") in failed
    assert ("non-regression", "overall", "accuracy") in failed and report["champion"]["version"] == 1
    assert any(s.startswith("robustness:") for _, s, _ in failed)  # slices are judged, not only the total
    assert "FAILED" in (world["tmp"] / "g2" / "gate.html").read_text()
    info = store.version("tiny", 2)
    assert info.gate is False and json.loads(info.tag("gate.summary"))["passed"] is False
    with pytest.raises(PromotionRefusedError, match="failed the quality gate"):
        promote("tiny", 2)
    assert resolve_reference("tiny").version == 1

    listed = runner.invoke(app, ["models", "list", "tiny"])
    assert listed.exit_code == 0
    assert "passed" in listed.output and "failed" in listed.output and "@champion" in listed.output


def test_the_suite_data_is_fixed_by_hash(world):
    register(world["good"], name="tiny")
    with pytest.raises(SuiteError, match=r"does not fix the hash.*--freeze"):
        run_gate("tiny/1", suite=str(world["suite"]))
    raw = yaml.safe_load(world["suite"].read_text())
    raw["data"][0]["sha256"] = "0" * 64
    world["suite"].write_text(yaml.safe_dump(raw))
    with pytest.raises(SuiteError, match="changed"):
        run_gate("tiny/1", suite=str(world["suite"]))
    assert world["store"].version("tiny", 1).gate is None  # an error records nothing
    missing = runner.invoke(app, ["gate", "tiny/1", "--suite", "no-such-suite"])
    assert missing.exit_code == 2 and "no evaluation suite named 'no-such-suite'" in _flat(missing.output)


def test_a_model_with_other_classes_is_refused_not_failed(world):
    register(world["good"], name="tiny", alias="champion")
    other = shutil.copytree(world["good"], world["tmp"] / "other")
    save_card(load_card(other).replace(class_names=("AI", "REAL")), other)
    register(other, name="tiny")
    run_gate("tiny/1", suite=str(world["suite"]), freeze=True, against="none")
    with pytest.raises(
        GateError, match=r"classes \['AI', 'REAL'\] differ from the champion's \['FAKE', 'REAL'\]"
    ):
        run_gate("tiny/2", suite=str(world["suite"]))
    result = runner.invoke(app, ["gate", "tiny/2", "--suite", str(world["suite"]), "--against", "none"])
    assert result.exit_code == 2 and "labels ['FAKE', 'REAL'] are not all among" in _flat(result.output)
    assert world["store"].version("tiny", 2).gate is None


def test_a_directory_can_be_gated_but_nothing_is_recorded(world):
    result = run_gate(str(world["good"]), suite=str(world["suite"]), freeze=True, against="none")
    assert result.passed and not result.recorded
    assert any("not a registered version" in n for n in result.notes)
