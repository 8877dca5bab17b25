"""The Grafana dashboards: the committed JSON is what the code builds, every panel query parses with
promtool, and the names they read are recording rules or metrics the service exports (the scrape of a
real process is compared in ``test_e2e.py``)."""

from __future__ import annotations

import json

import yaml

from deeptrust.monitor.boards import DASHBOARDS
from deeptrust.monitor.dashboards import concrete, render_json
from tests.monitor._prom import REPO, metric_names, rules
from tests.monitor.test_rules import promtool

GRAFANA = REPO / "deploy" / "grafana"


def panel_exprs() -> list[str]:
    return [concrete(expr) for board in DASHBOARDS for panel in board.panels for expr, _ in panel.exprs]


def test_committed_dashboards_are_the_generated_ones():
    for board in DASHBOARDS:
        path = GRAFANA / "dashboards" / f"{board.uid}.json"
        assert path.read_text() == render_json(board), f"run make dashboards ({path.name} is stale)"
    assert {p.stem for p in (GRAFANA / "dashboards").glob("*.json")} == {b.uid for b in DASHBOARDS}


def test_dashboard_titles_and_layout():
    assert {b.title for b in DASHBOARDS} >= {
        "deeptrust / service",
        "deeptrust / model behaviour",
        "deeptrust / drift",
    }
    for board in DASHBOARDS:
        model = json.loads(render_json(board))
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids))
        for p in model["panels"]:
            pos = p["gridPos"]
            assert pos["x"] + pos["w"] <= 24


def test_every_panel_query_parses(tmp_path):
    exprs = panel_exprs()
    rule_file = tmp_path / "panels.rules.yml"
    records = [{"record": f"panel:check:{i}", "expr": e} for i, e in enumerate(exprs)]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": records}]}))
    done = promtool("check", "rules", str(rule_file), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_a_broken_query_is_caught(tmp_path):
    rule_file = tmp_path / "bad.rules.yml"
    bad = "sum by (le) (rate(deeptrust_prediction_p_ai_bucket[1m])"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": bad}]}]})
    )
    assert promtool("check", "rules", str(rule_file), cwd=tmp_path).returncode != 0


def test_metric_names_reads_promql():
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(deeptrust_http_request_duration_seconds_bucket"
        '{job="deeptrust", route=~"/v1/.+"}[5m]))) / on (job) group_left '
        "job:deeptrust_api_errors:ratio_rate5m offset 1h and up == bool 1"
    )
    assert metric_names(expr) == {
        "deeptrust_http_request_duration_seconds_bucket", "job:deeptrust_api_errors:ratio_rate5m", "up",
    }  # fmt: skip


def test_recording_rules_the_panels_read_exist():
    recorded = set(rules("record"))
    read = set().union(*(metric_names(e) for e in panel_exprs()))
    assert {n for n in read if ":" in n} <= recorded
