"""Draw a dashboard of :mod:`deeptrust.monitor.dashboards` without Grafana: run each panel's queries against
a Prometheus server (``/api/v1/query_range``) and write one self-contained HTML page of SVG charts.

For a machine where Grafana cannot run (the README's screenshot is this page in headless Chromium:
``scripts/dashboard_screenshot.py``). Panels are drawn plainly: time series as lines with the panel's
threshold dashed in red, stats as their latest values, the score heatmap as shaded bucket rows.
"""

from __future__ import annotations

import html
import math
import re
import time
from dataclasses import dataclass

import httpx

from deeptrust.monitor.dashboards import Dashboard, Panel, concrete

W, H, PAD = 460, 190, 34
CSS = (
    "body{background:#111217;color:#ccccdc;font:13px system-ui,sans-serif;margin:16px}"
    "h1{font-size:18px;margin:0 0 4px} .note{color:#8e8e9e;margin-bottom:12px}"
    f".grid{{display:grid;grid-template-columns:repeat(3,{W + 16}px);gap:8px}}"
    ".panel{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:6px 8px}"
    "h3{font-size:13px;margin:0 0 4px;font-weight:500} .legend{font-size:11px;color:#9fa7b3}"
    ".axis{stroke:#2c3235} .threshold{stroke:#e02f44;stroke-dasharray:4 3} .tick{fill:#8e8e9e;font-size:10px}"
    ".stat{font-size:15px;margin:6px 0} .stat span{font-size:26px;font-weight:600}"
    ".empty{color:#8e8e9e;padding:70px 0;text-align:center}"
)
COLOURS = ("#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#b877d9", "#37872d", "#e02f44", "#8ab8ff")


@dataclass
class Series:
    legend: str
    points: list[tuple[float, float]]


def fetch(prometheus: str, panel: Panel, *, start: float, end: float, step: float, job: str) -> list[Series]:
    """Every series of every query of ``panel`` between ``start`` and ``end`` (unix seconds)."""
    out: list[Series] = []
    for expr, legend in panel.exprs:
        query = concrete(expr, job=job, rate_interval=f"{max(60, int(4 * step))}s")
        params = {"query": query, "start": start, "end": end, "step": step}
        body = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=30).json()
        if body.get("status") != "success":
            raise ValueError(f"Prometheus refused {query!r}: {body.get('error')}")
        for result in body["data"]["result"]:
            points = [(float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v))]
            out.append(Series(_legend(legend, result["metric"]), points))
    return out


def _legend(template: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return text.strip() or ", ".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"


def _fmt(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{100 * value:.1f}%"
    if unit == "s":
        return f"{1000 * value:.0f} ms" if abs(value) < 10 else f"{value:.1f} s"
    if unit == "reqps":
        return f"{value:.2g}/s"
    return f"{value:.3g}"


def _y_range(panel: Panel, values: list[float]) -> tuple[float, float]:
    """The axis: from 0 (log: the smallest value) to a little over the largest value or the threshold."""
    top = max(values, default=0.0)
    if panel.log_scale:
        return max(1e-3, min(values, default=1e-3)), max(1e-3, top) * 1.5
    return min([0.0, *values]), top * 1.1 if top > 1e-9 else 1.0


def _line_chart(panel: Panel, series: list[Series], t0: float, t1: float) -> str:
    values = [v for s in series for _, v in s.points] + (
        [panel.threshold] if panel.threshold is not None else []
    )
    lo, hi = _y_range(panel, values)

    def scale(v: float) -> float:
        return math.log10(max(v, 1e-3)) if panel.log_scale else v

    def x(t: float) -> float:
        return PAD + (t - t0) / max(1e-9, t1 - t0) * (W - PAD - 8)

    def y(v: float) -> float:
        return H - 22 - (scale(v) - scale(lo)) / max(1e-9, scale(hi) - scale(lo)) * (H - 40)

    parts = [f'<line x1="{PAD}" y1="{y(lo):.1f}" x2="{W - 8}" y2="{y(lo):.1f}" class="axis"/>',
             f'<text x="2" y="{y(hi) + 10:.1f}" class="tick">{_fmt(hi, panel.unit)}</text>',
             f'<text x="2" y="{y(lo):.1f}" class="tick">{_fmt(lo, panel.unit)}</text>']  # fmt: skip
    if panel.log_scale:
        parts.append(f'<text x="{W - 60}" y="14" class="tick">log scale</text>')
    if panel.threshold is not None:
        ty = y(panel.threshold)
        parts.append(f'<line x1="{PAD}" y1="{ty:.1f}" x2="{W - 8}" y2="{ty:.1f}" class="threshold"/>')
    for i, s in enumerate(series):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="1.6"/>'
        )
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">{"".join(parts)}</svg>'


def _heatmap(series: list[Series], t0: float, t1: float) -> str:
    """Cumulative ``le`` buckets → per-bucket rates, one shaded row per bucket (low scores at the bottom)."""
    rows = sorted((float(s.legend.replace("+Inf", "inf")), dict(s.points)) for s in series if s.points)
    if not rows:
        return _empty()
    times = sorted({t for _, pts in rows for t in pts})
    cells = [[max(0.0, pts.get(t, 0.0) - (rows[i - 1][1].get(t, 0.0) if i else 0.0)) for t in times]
             for i, (_, pts) in enumerate(rows)]  # fmt: skip
    peak = max(max(r) for r in cells) or 1.0
    cw, ch = (W - PAD - 8) / len(times), (H - 30) / len(rows)
    parts = []
    for i, row in enumerate(cells):
        for j, v in enumerate(row):
            if v > 0:
                parts.append(
                    f'<rect x="{PAD + j * cw:.1f}" y="{H - 22 - (i + 1) * ch:.1f}" width="{cw + 0.5:.1f}" '
                    f'height="{ch + 0.5:.1f}" fill="#f2cc0c" fill-opacity="{0.1 + 0.9 * v / peak:.2f}"/>'
                )
    parts.append(
        f'<text x="2" y="{H - 22:.1f}" class="tick">0</text><text x="2" y="16" class="tick">1</text>'
    )
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">{"".join(parts)}</svg>'


def _stat(panel: Panel, series: list[Series]) -> str:
    rows = "".join(
        f'<div class="stat"><span style="color:{COLOURS[i % len(COLOURS)]}">'
        f"{_fmt(s.points[-1][1], panel.unit)}</span> {html.escape(s.legend)}</div>"
        for i, s in enumerate(series) if s.points
    )  # fmt: skip
    return rows or _empty()


def _empty() -> str:
    return '<div class="empty">no data</div>'


def render_html(board: Dashboard, data: list[list[Series]], *, t0: float, t1: float, note: str = "") -> str:
    cells = []
    for panel, series in zip(board.panels, data, strict=True):
        if panel.kind == "stat":
            body = _stat(panel, series)
        elif panel.kind == "heatmap":
            body = _heatmap(series, t0, t1)
        else:
            body = _line_chart(panel, series, t0, t1) if any(s.points for s in series) else _empty()
        legend = "" if panel.kind != "timeseries" else "".join(
            f'<span style="color:{COLOURS[i % len(COLOURS)]}">■</span> {html.escape(s.legend)} '
            for i, s in enumerate(series)
        )  # fmt: skip
        cells.append(
            f'<div class="panel"><h3>{html.escape(panel.title)}</h3>{body}'
            f'<div class="legend">{legend}</div></div>'
        )
    span = f"{time.strftime('%H:%M', time.gmtime(t0))}–{time.strftime('%H:%M UTC', time.gmtime(t1))}"
    head = f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(board.title)}</title>'
    intro = f'<h1>{html.escape(board.title)}</h1><div class="note">{html.escape(board.description)} {span}. '
    return (
        f"{head}<style>{CSS}</style></head><body>{intro}{html.escape(note)}</div>"
        f'<div class="grid">{"".join(cells)}</div></body></html>'
    )


def render_dashboard(prometheus: str, board: Dashboard, *, minutes: float = 10, job: str = "deeptrust",
                     note: str = "") -> tuple[str, list[list[Series]]]:  # fmt: skip
    """The page for the last ``minutes``, and the data drawn (one list of series per panel)."""
    end = time.time()
    start = end - 60 * minutes
    step = max(1.0, 60 * minutes / 240)
    data = [fetch(prometheus, p, start=start, end=end, step=step, job=job) for p in board.panels]
    return render_html(board, data, t0=start, t1=end, note=note), data
