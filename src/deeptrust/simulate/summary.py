"""A run's summary: what was offered and answered, latency from the due time, and per source what the
model said (share labelled AI, accuracy against the true labels); printed as tables or saved as JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from deeptrust.simulate.run import Outcome, RunResult

SLO_P95_MS = 150.0
SLO_FAILED = 0.01


def summarize(result: RunResult) -> dict[str, Any]:
    out = result.outcomes
    statuses: dict[str, int] = {}
    for o in out:
        statuses[str(o.status)] = statuses.get(str(o.status), 0) + 1
    answered = [o for o in out if o.status == 200]
    failed = sum(1 for o in out if o.status == 0 or o.status >= 500)
    phases = sorted({o.phase for o in out}, key=lambda name: min(o.due for o in out if o.phase == name))
    summary = {
        "url": result.url,
        "pattern": result.pattern,
        "seconds": round(result.seconds, 2),
        "requests": len(out),
        "answered": len(answered),
        "failed": failed,
        "failed_share": failed / len(out) if out else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "offered_rps": len(out) / result.duration if result.duration else 0.0,
        "achieved_rps": len(answered) / result.seconds if result.seconds else 0.0,
        "max_send_lag_ms": result.max_send_lag * 1e3,
        "latency_ms": _latency(answered),
        "phases": {name: _phase([o for o in out if o.phase == name]) for name in phases},
        "feedback": {
            "checked": result.feedback.checked,
            "confirmed": result.feedback.confirmed,
            "corrections_sent": sum(result.feedback.statuses.values()),
            "statuses": {str(k): v for k, v in sorted(result.feedback.statuses.items())},
        },
    }
    p95 = summary["latency_ms"].get("p95")
    summary["slo"] = {
        "p95_le_150ms": p95 is not None and p95 <= SLO_P95_MS,
        "failed_le_1pct": summary["failed_share"] <= SLO_FAILED,
    }
    return summary


def _latency(answered: list[Outcome]) -> dict[str, float]:
    if not answered:
        return {}
    ms = np.array([o.latency for o in answered]) * 1e3
    return {k: float(np.percentile(ms, q)) for k, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def _phase(out: list[Outcome]) -> dict[str, Any]:
    answered = [o for o in out if o.status == 200]
    labelled = [o for o in answered if o.truth]
    correct = [o for o in labelled if o.truth == o.label]
    return {
        "from_s": round(min(o.due for o in out), 2),
        "requests": len(out),
        "answered": len(answered),
        "predicted_ai_share": sum(o.label != "REAL" for o in answered) / len(answered) if answered else None,
        "true_ai_share": sum(o.truth != "REAL" for o in labelled) / len(labelled) if labelled else None,
        "accuracy": len(correct) / len(labelled) if labelled else None,
        "mean_p_ai": float(np.mean([o.p_ai for o in answered])) if answered else None,
        "p95_ms": _latency(answered).get("p95"),
        "versions": sorted({o.version for o in answered}),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_summary(summary: dict[str, Any], console: Console) -> None:
    lat = summary["latency_ms"]
    head = Table(title=f"deeptrust simulate: {summary['url']} ({summary['pattern']})", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "requests",
        f"{summary['requests']} in {summary['seconds']} s ({summary['achieved_rps']:.1f}/s answered)",
    )
    head.add_row("statuses", ", ".join(f"{k}: {v}" for k, v in summary["statuses"].items()))
    head.add_row("failed (5xx, no answer)", f"{summary['failed']} ({_pct(summary['failed_share'])})")
    head.add_row(
        "latency ms (from due time)",
        f"p50 {_ms(lat.get('p50'))}  p95 {_ms(lat.get('p95'))}  "
        f"p99 {_ms(lat.get('p99'))}  max {_ms(lat.get('max'))}",
    )
    head.add_row("sender lag ms (max)", _ms(summary["max_send_lag_ms"]))
    slo = summary["slo"]
    head.add_row(
        "SLO",
        f"p95 <= 150 ms: {'met' if slo['p95_le_150ms'] else 'missed'}; "
        f"failed <= 1 %: {'met' if slo['failed_le_1pct'] else 'missed'}",
    )
    fb = summary["feedback"]
    if fb["checked"]:
        head.add_row(
            "feedback",
            f"{fb['checked']} checked, {fb['confirmed']} right, {fb['corrections_sent']} "
            f"corrections sent ({', '.join(f'{k}: {v}' for k, v in fb['statuses'].items()) or '-'})",
        )
    console.print(head)
    table = Table(title="by source")
    columns = ("source", "from s", "sent", "200", "AI said", "AI true", "accuracy", "mean p_ai", "p95 ms")
    for column in (*columns, "versions"):
        table.add_column(column, justify="left" if column in ("source", "versions") else "right")
    for name, p in summary["phases"].items():
        table.add_row(
            name, f"{p['from_s']:.0f}", str(p["requests"]), str(p["answered"]), _pct(p["predicted_ai_share"]),
            _pct(p["true_ai_share"]), _pct(p["accuracy"]),
            "-" if p["mean_p_ai"] is None else f"{p['mean_p_ai']:.3f}", _ms(p["p95_ms"]),
            ", ".join(p["versions"]),
        )  # fmt: skip
    console.print(table)
