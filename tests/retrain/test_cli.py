"""``deeptrust retrain`` and ``deeptrust jobs`` from a terminal: the condition trigger, the queue, and the
errors (no recipe, nothing new, a retrain already queued) as messages with exit codes, not tracebacks."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from deeptrust.cli import app

runner = CliRunner()


def test_nothing_new_is_an_error_by_hand_and_a_quiet_skip_for_the_condition(recipes, monkeypatch) -> None:
    monkeypatch.setenv("DEEPTRUST_RETRAIN_CONFIG_DIR", str(recipes))
    manual = runner.invoke(app, ["retrain", "cifake"])
    assert manual.exit_code == 2 and "0 reviewed correction(s) of 'cifake' so far" in manual.output
    condition = runner.invoke(app, ["retrain", "cifake", "--min-new-reviewed", "5", "--schedule"])
    assert condition.exit_code == 0 and "needs at least 5" in condition.output
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0 and "Jobs (0)" in listed.output  # no job row for a condition not met


def test_queue_then_a_second_queue_is_refused_and_jobs_show_it(recipes, add_reviewed, monkeypatch) -> None:
    monkeypatch.setenv("DEEPTRUST_RETRAIN_CONFIG_DIR", str(recipes))
    add_reviewed(3)
    queued = runner.invoke(app, ["retrain", "cifake", "--queue", "--min-new-reviewed", "3"])
    assert queued.exit_code == 0 and "queued retrain job 1 for cifake" in queued.output
    again = runner.invoke(app, ["retrain", "cifake", "--queue"])
    assert again.exit_code == 2 and "already queued (job 1)" in again.output
    inline = runner.invoke(app, ["retrain", "cifake"])  # a terminal run while one is queued: refused too
    assert inline.exit_code == 2 and "already queued (job 1)" in inline.output
    shown = runner.invoke(app, ["jobs", "show", "1"])
    assert shown.exit_code == 0
    job = json.loads(shown.output)
    assert (job["status"], job["trigger"], job["params"]["min_new_reviewed"]) == ("queued", "condition", 3)
    missing = runner.invoke(app, ["jobs", "show", "7"])
    assert missing.exit_code == 2 and "no job with id 7" in missing.output


def test_no_recipe_is_a_clear_error(tmp_path, add_reviewed, monkeypatch) -> None:
    monkeypatch.setenv("DEEPTRUST_RETRAIN_CONFIG_DIR", str(tmp_path))
    add_reviewed(1)
    result = runner.invoke(app, ["retrain", "cifake"])
    assert result.exit_code == 2 and "no training recipe for 'cifake'" in result.output
    assert "Jobs (0)" in runner.invoke(app, ["jobs", "list"]).output  # refused before any job row
