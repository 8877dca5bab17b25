"""The Grafana dashboards of ``deploy/grafana/dashboards/``, built from code (the panels are in
:mod:`deeptrust.monitor.boards`) so that every panel's query is in one place, can be checked
(``tests/monitor/test_dashboards.py``: each expression parses with promtool and names only metrics a real
``deeptrust serve`` exports, or recording rules of ``deploy/prometheus``), and can be drawn without Grafana
(``deeptrust.monitor.render``).

Regenerate after a change: ``python -m deeptrust.monitor.dashboards deploy/grafana/dashboards``
(``make dashboards``); the test fails when the committed JSON and this code differ.

Queries use two Grafana variables: ``$job`` (the scrape job, default ``deeptrust``) and
``$__rate_interval``. :func:`concrete` substitutes them for checks and offline rendering.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # deploy/grafana/provisioning/datasources


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries, stat, heatmap
    threshold: float | None = None  # a red line: the SLO or alert threshold
    description: str = ""
    width: int = 8
    log_scale: bool = False  # for ratios spanning decades (drift statistic over threshold)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...] = field(default_factory=tuple)

    @property
    def panels(self) -> list[Panel]:
        return [p for _, panels in self.rows for p in panels]


def concrete(expr: str, *, job: str = "deeptrust", rate_interval: str = "1m") -> str:
    """An expression with the Grafana variables filled in: for promtool and for drawing without Grafana."""
    return expr.replace("$__rate_interval", rate_interval).replace("$job", job)


def to_grafana(board: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (schema 39), laid out row by row, 24 columns wide."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row in board.rows:
        panels.append({"type": "row", "title": row_title, "collapsed": False, "id": len(panels) + 1,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})  # fmt: skip
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
        y += 8
    return {
        "uid": board.uid,
        "title": board.title,
        "description": board.description,
        "tags": ["deeptrust"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "job",
                    "label": "job",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(up, job)", "refId": "job"},
                    "definition": "label_values(up, job)",
                    "current": {"text": "deeptrust", "value": "deeptrust"},
                    "refresh": 1,
                }
            ]
        },
        "panels": panels,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if panel.threshold is not None:
        steps.append({"color": "red", "value": panel.threshold})
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if panel.kind == "timeseries":
        custom: dict[str, Any] = {}
        if panel.threshold is not None:
            custom["thresholdsStyle"] = {"mode": "line"}
        if panel.log_scale:
            custom["scaleDistribution"] = {"type": "log", "log": 10}
        if custom:
            defaults["custom"] = custom
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            | ({"format": "heatmap"} if panel.kind == "heatmap" else {})
            for i, (expr, legend) in enumerate(panel.exprs)
        ],
    }
    if panel.kind == "heatmap":
        out["options"] = {"calculate": False, "yAxis": {"unit": "short"}}
    return out


def render_json(board: Dashboard) -> str:
    return json.dumps(to_grafana(board), indent=2) + "\n"


def write_dashboards(directory: Path) -> list[Path]:
    from deeptrust.monitor.boards import DASHBOARDS

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for board in DASHBOARDS:
        path = directory / f"{board.uid}.json"
        path.write_text(render_json(board))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_dashboards(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/grafana/dashboards")):
        print(written)
