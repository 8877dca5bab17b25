"""The offline drift report: one self-contained HTML file (figures inlined as PNG), from
:func:`deeptrust.monitor.offline.drift_report` and the profile it tested against."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from deeptrust.monitor.profile import Profile

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#111827;
padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid #e5e7eb;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.drift{color:#b91c1c;font-weight:600}
.figs{display:flex;flex-wrap:wrap;gap:1rem}.figs img{max-width:100%;border:1px solid #e5e7eb}
.muted{color:#6b7280}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _histogram(name: str, profile: Profile, codes: np.ndarray, stat: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    ref = profile.signals[name]
    reference = ref.counts / max(ref.counts.sum(), 1)
    data = np.bincount(codes, minlength=len(ref.counts)) / max(len(codes), 1)
    x = np.arange(len(ref.counts))
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    ax.bar(x - 0.2, reference, width=0.4, label="reference", color="#9ca3af")
    ax.bar(x + 0.2, data, width=0.4, label="data", color="#dc2626" if stat.get("detected") else "#2563eb")
    ax.set_xticks(x, ref.labels(), rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(f"{name}: PSI {stat['statistic']:.3g} (threshold {stat['threshold']:.3g})", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _embedding(profile: Profile, projected: np.ndarray, stat: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    assert profile.embedding is not None
    ref = profile.embedding.reference
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ax.scatter(
        ref[:, 0],
        ref[:, 1] if ref.shape[1] > 1 else 0 * ref[:, 0],
        s=6,
        alpha=0.5,
        c="#9ca3af",
        label="reference",
    )
    sample = projected[np.random.default_rng(0).permutation(len(projected))[:1000]]
    ax.scatter(sample[:, 0], sample[:, 1] if sample.shape[1] > 1 else 0 * sample[:, 0], s=6, alpha=0.5,
               c="#dc2626" if stat.get("detected") else "#2563eb", label="data")  # fmt: skip
    ax.set_xlabel("PC 1 (whitened)")
    ax.set_ylabel("PC 2")
    ax.set_title(f"embedding: MMD² {stat['statistic']:.3g} (threshold {stat['threshold']:.3g})", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _timeline(result: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    windows = result["windows"]
    signals = list(windows[0]["signals"])
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for s in signals:
        ratio = [w["signals"][s]["statistic"] / max(w["signals"][s]["threshold"], 1e-12) for w in windows]
        ax.plot([w["start"] for w in windows], ratio, marker=".", label=s)
    ax.axhline(1.0, color="#111827", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("first image of the window")
    ax.set_ylabel("statistic / threshold")
    ax.legend(fontsize=7, ncol=4)
    return _png(fig)


def write_report(result: dict[str, Any], profile: Profile, path: Path) -> Path:
    """Write the report; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    m = result["model"]
    rows = "".join(
        f"<tr><td>{html.escape(s)}</td><td>{r['statistic']:.4g}</td><td>{r['threshold']:.4g}</td>"
        f"<td class='{'drift' if r['detected'] else ''}'>{'yes' if r['detected'] else 'no'}</td></tr>"
        for s, r in result["signals"].items()
    )
    figs = [
        _histogram(name, profile, result["_codes"][name], result["signals"][name])
        for name in profile.signals
        if name in result["signals"]
    ]
    if result.get("_projected") is not None and "embedding" in result["signals"]:
        figs.insert(1, _embedding(profile, result["_projected"], result["signals"]["embedding"]))
    timeline = ""
    if result.get("windows"):
        flagged = sum(bool(w["drifting"]) for w in result["windows"])
        timeline = (
            f"<h2>Consecutive windows of {result['window']}</h2><p>{flagged} of {len(result['windows'])} "
            "windows drift (statistic above its threshold in some signal).</p>"
            f"<div class='figs'>{_timeline(result)}</div>"
        )
    parts = ", ".join(
        f"{html.escape(str(d['name']))} ({html.escape(d['split'])}, {d['n']:,})" for d in result["data"]
    )
    ref_parts = ", ".join(
        f"{html.escape(str(d.get('name')))} ({html.escape(str(d.get('split')))}, {d.get('n')})"
        for d in profile.data.get("parts", [])
    )
    verdict = (
        f"<p class='drift'>Drift in {html.escape(', '.join(result['drifting']))}.</p>"
        if result["drifting"]
        else "<p>No drift detected.</p>"
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Drift: {html.escape(m["name"])} {html.escape(m["version"])}</title><style>{CSS}</style></head><body>
<h1>Drift report: {html.escape(m["name"])} {html.escape(m["version"])}</h1>
<p class="muted">{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} · data: {parts} · {result["n"]:,} images
({result["unreadable"]} unreadable) · reference: {ref_parts or "the card"}
({result["reference_n"]:,} images) · per-test level
alpha {result["alpha"]:g}; thresholds calibrated by permutation (gamma tail).</p>
{verdict}
<h2>Statistics (the whole sample as one window)</h2>
<table><tr><th>signal</th><th>statistic</th><th>threshold</th><th>drift</th></tr>{rows}</table>
<p class="muted">PSI for scores and image properties (binned at the reference's deciles or by value),
MMD² with a Gaussian kernel on the embedding's principal directions. The same tests the service runs on
its rolling windows.</p>
<h2>Distributions</h2><div class="figs">{"".join(figs)}</div>
{timeline}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
