"""The Grafana dashboards of ``deploy/grafana/dashboards/``, built from code so that every panel's query is
in one place, can be checked (``tests/monitor/test_dashboards.py``: each expression parses with promtool
and names only metrics a real ``deeptrust serve`` exports, or recording rules of ``deploy/prometheus``),
and can be drawn without Grafana (``deeptrust.monitor.render``).

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
J = 'job="$job"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries, stat, heatmap
    threshold: float | None = None  # a red line: the SLO or alert threshold
    description: str = ""
    width: int = 8


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...] = field(default_factory=tuple)

    @property
    def panels(self) -> list[Panel]:
        return [p for _, panels in self.rows for p in panels]


def _q(expr: str, legend: str = "") -> tuple[str, str]:
    return (" ".join(expr.split()), legend)


def _quantile(q: float, metric: str, selector: str = "", by: str = "") -> str:
    inner = f"{J}, {selector}" if selector else J
    return (
        f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) "
        f"(rate({metric}_bucket{{{inner}}}[{RATE}])))"
    )


SERVICE = Dashboard(
    "deeptrust-service",
    "deeptrust / service",
    "Traffic, latency and errors against the SLOs, saturation, CPU, process health.",
    (
        (
            "SLOs",
            (
                Panel(
                    "p95 latency of /v1/predict (SLO 150 ms)",
                    (
                        _q(f"job:deeptrust_predict_latency_seconds:p95_5m{{{J}}}", "p95 (5m)"),
                        _q(
                            _quantile(0.5, "deeptrust_http_request_duration_seconds", 'route="/v1/predict"'),
                            "p50",
                        ),
                    ),
                    unit="s",
                    threshold=0.15,
                ),
                Panel(
                    "failed API requests (SLO 1 %)",
                    (
                        _q(f"job:deeptrust_api_errors:ratio_rate5m{{{J}}}", "5xx share (5m)"),
                        _q(f"job:deeptrust_api_errors:ratio_rate1h{{{J}}}", "5xx share (1h)"),
                    ),
                    unit="percentunit",
                    threshold=0.01,
                ),
                Panel(
                    "CPU used of its limit (SLO 75 % per hour)",
                    (
                        _q(f"instance:deeptrust_cpu_usage:ratio_rate1h{{{J}}}", "{{instance}} 1h"),
                        _q(f"instance:deeptrust_cpu_usage:ratio_rate5m{{{J}}}", "{{instance}} 5m"),
                    ),
                    unit="percentunit",
                    threshold=0.75,
                ),
            ),
        ),
        (
            "Traffic",
            (
                Panel(
                    "requests by route and status",
                    (
                        _q(
                            f"sum by (route, status) (rate(deeptrust_http_requests_total{{{J}}}[{RATE}]))",
                            "{{route}} {{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "latency by route (p95)",
                    (
                        _q(
                            _quantile(
                                0.95, "deeptrust_http_request_duration_seconds", 'status="200"', "route"
                            ),
                            "{{route}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "slow /v1/predict answers (over 150 ms)",
                    (
                        _q(f"job:deeptrust_predict_slow:ratio_rate5m{{{J}}}", "5m"),
                        _q(f"job:deeptrust_predict_slow:ratio_rate1h{{{J}}}", "1h"),
                    ),
                    unit="percentunit",
                    threshold=0.05,
                ),
            ),
        ),
        (
            "Saturation",
            (
                Panel(
                    "admitted images against the limit",
                    (
                        _q(f"sum(deeptrust_admitted_images{{{J}}})", "admitted"),
                        _q(f"sum(deeptrust_admission_limit{{{J}}})", "limit"),
                        _q(f"sum(deeptrust_batch_queue_depth{{{J}}})", "waiting for the model"),
                        _q(f"sum(deeptrust_http_requests_in_flight{{{J}}})", "HTTP in flight"),
                    ),
                ),
                Panel(
                    "refused: shed, rate-limited, limit store down",
                    (
                        _q(f"sum(rate(deeptrust_load_shed_total{{{J}}}[{RATE}]))", "shed (503)"),
                        _q(f"sum(rate(deeptrust_rate_limited_total{{{J}}}[{RATE}]))", "rate-limited (429)"),
                        _q(
                            f"sum(rate(deeptrust_rate_limit_unavailable_total{{{J}}}[{RATE}]))",
                            "Redis unreachable",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "where the time goes (p95)",
                    (
                        _q(_quantile(0.95, "deeptrust_decode_seconds"), "decode"),
                        _q(_quantile(0.95, "deeptrust_batch_wait_seconds"), "batch wait"),
                        _q(_quantile(0.95, "deeptrust_inference_seconds"), "model call"),
                    ),
                    unit="s",
                ),
            ),
        ),
        (
            "Process",
            (
                Panel(
                    "up and ready",
                    (
                        _q(f"min(up{{{J}}})", "up"),
                        _q(f"min(deeptrust_ready{{{J}}})", "ready"),
                        _q(f"changes(deeptrust_process_start_time_seconds{{{J}}}[15m])", "restarts (15m)"),
                    ),
                ),
                Panel(
                    "images per model call",
                    (
                        _q(
                            f"sum(rate(deeptrust_batch_size_sum{{{J}}}[{RATE}])) / "
                            f"sum(rate(deeptrust_batch_size_count{{{J}}}[{RATE}]))",
                            "mean batch",
                        ),
                    ),
                ),
                Panel(
                    "refused uploads and dropped reviews",
                    (
                        _q(
                            f"sum by (reason) (rate(deeptrust_image_errors_total{{{J}}}[{RATE}]))",
                            "image: {{reason}}",
                        ),
                        _q(
                            f"sum by (reason) (rate(deeptrust_review_dropped_total{{{J}}}[{RATE}]))",
                            "review dropped: {{reason}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "feedback store disk free",
                    (
                        _q(
                            f"min(deeptrust_feedback_disk_free_bytes{{{J}}} "
                            f"/ deeptrust_feedback_disk_size_bytes{{{J}}})",
                            "free",
                        ),
                    ),
                    unit="percentunit",
                    threshold=0.1,
                ),
            ),
        ),
    ),
)

MODEL = Dashboard(
    "deeptrust-model",
    "deeptrust / model behaviour",
    "What the served model says: label rate, score distribution, which model is served.",
    (
        (
            "Answers",
            (
                Panel(
                    "share labelled AI",
                    (
                        _q(
                            f'sum(rate(deeptrust_prediction_p_ai_count{{{J}, label!="REAL"}}[{RATE}])) / '
                            f"sum(rate(deeptrust_prediction_p_ai_count{{{J}}}[{RATE}]))",
                            "now",
                        ),
                        _q(f"job:deeptrust_predicted_ai:ratio_rate1h{{{J}}}", "1h"),
                        _q(f"job:deeptrust_predicted_ai:ratio_rate1d{{{J}}}", "1d"),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "predictions by label",
                    (
                        _q(
                            f"sum by (label) (rate(deeptrust_prediction_p_ai_count{{{J}}}[{RATE}]))",
                            "{{label}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "mean p_ai by label",
                    (
                        _q(
                            f"sum by (label) (rate(deeptrust_prediction_p_ai_sum{{{J}}}[{RATE}])) / "
                            f"sum by (label) (rate(deeptrust_prediction_p_ai_count{{{J}}}[{RATE}]))",
                            "{{label}}",
                        ),
                    ),
                    unit="percentunit",
                ),
            ),
        ),
        (
            "Scores",
            (
                Panel(
                    "p_ai distribution",
                    (_q(f"sum by (le) (rate(deeptrust_prediction_p_ai_bucket{{{J}}}[{RATE}]))", "{{le}}"),),
                    kind="heatmap",
                    width=16,
                ),
                Panel(
                    "served model",
                    (
                        _q(
                            f"max by (name, version) (deeptrust_model_info{{{J}}}) == 1",
                            "{{name}} {{version}}",
                        ),
                        _q(f"sum(increase(deeptrust_model_reloads_total{{{J}}}[1h]))", "reloads (1h)"),
                    ),
                    kind="stat",
                ),
            ),
        ),
    ),
)

DRIFT = Dashboard(
    "deeptrust-drift",
    "deeptrust / drift",
    "Live windows against the card's reference profile: each signal's statistic, its permutation-calibrated "
    "threshold, and whether it drifts.",
    (
        (
            "Drift",
            (
                Panel(
                    "statistic over threshold, by signal (drift above 1)",
                    (
                        _q(
                            f"max by (model, version, signal) (deeptrust_drift_statistic{{{J}}} / "
                            f"deeptrust_drift_threshold{{{J}}})",
                            "{{signal}} {{version}}",
                        ),
                    ),
                    threshold=1.0,
                    width=16,
                ),
                Panel(
                    "signals drifting",
                    (
                        _q(
                            "sum by (model, version) "
                            f"(max by (model, version, signal) (deeptrust_drift_detected{{{J}}}))",
                            "{{model}} {{version}}",
                        ),
                    ),
                    kind="stat",
                ),
                Panel(
                    "score and embedding statistics",
                    (
                        _q(
                            f'max by (signal) (deeptrust_drift_statistic{{{J}, signal=~"score|embedding"}})',
                            "{{signal}}",
                        ),
                        _q(
                            f'max by (signal) (deeptrust_drift_threshold{{{J}, signal=~"score|embedding"}})',
                            "{{signal}} threshold",
                        ),
                    ),
                ),
                Panel(
                    "window size",
                    (
                        _q(
                            f"max by (model, version) (deeptrust_drift_window_size{{{J}}})",
                            "{{model}} {{version}}",
                        ),
                    ),
                ),
                Panel(
                    "reference profile present",
                    (
                        _q(
                            f"min by (model, version) (deeptrust_drift_reference_present{{{J}}})",
                            "{{model}} {{version}}",
                        ),
                    ),
                    kind="stat",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (SERVICE, MODEL, DRIFT)


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
    if panel.kind == "timeseries" and panel.threshold is not None:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
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
