"""A self-contained HTML evaluation report: one file, figures and thumbnails inlined, no assets.

Input is the dict from :func:`deeptrust.evaluate.run.evaluate_model` *with* its private ``_scores``
(the per-image ``y_ai`` and ``p_ai`` the curves need); a JSON file written by ``--json`` lacks them.
The worst errors are read again from their paths to draw thumbnails.

Non-goals: interactivity, JavaScript.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deeptrust.evaluate import _plots
from deeptrust.imageio import open_image

THUMBNAIL = 160  # px, longest side
METRIC_COLUMNS = (
    ("n", "n"),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("false_positive_rate", "FPR"),
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "AP"),
    ("tpr_at_fpr_1pct", "TPR@1%FPR"),
    ("tpr_at_fpr_5pct", "TPR@5%FPR"),
    ("ece", "ECE"),
)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#111827;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #e5e7eb;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f9fafb}
.figs{display:flex;flex-wrap:wrap;gap:1rem}.figs img{max-width:100%;border:1px solid #e5e7eb}
.thumbs{display:flex;flex-wrap:wrap;gap:.75rem}
.thumb{width:180px;font-size:.75rem;overflow-wrap:anywhere}
.thumb img{display:block;margin-bottom:.25rem}.muted{color:#6b7280}
"""


def write_report(result: dict[str, Any], path: Path, *, title: str | None = None) -> Path:
    """Write the HTML report of an ``evaluate_model`` result to ``path``; returns the path."""
    scores = result.get("_scores")
    if scores is None:
        raise ValueError(
            "the result has no per-image scores (_scores); pass the dict returned by "
            "evaluate_model, not one read back from --json"
        )
    model = result.get("model", {})
    title = title or f"deeptrust evaluation: {model.get('name', '?')} {model.get('version', '')}"
    body = [
        f"<h1>{_e(title)}</h1>",
        _header(result),
        "<h2>Summary</h2>",
        _summary_table(result),
        _notes(result.get("notes", [])),
        "<h2>Plots</h2>",
        _figures(result, np.asarray(scores["y_ai"], bool), np.asarray(scores["p_ai"], float)),
        _metrics_section("Subsets", {"all": result, **result.get("subsets", {})}, "subset"),
        _metrics_section("Per source", result.get("per_source"), "source"),
        _metrics_section(
            "By source (each against the other class)", result.get("by_source"), "source", GROUPS
        ),
        _metrics_section("By generator", result.get("by_generator"), "generator", GROUPS),
        _robustness_section(result.get("robustness")),
        _worst_errors_section(result.get("worst_errors", [])),
        _errors_section(result.get("errors", [])),
    ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return _e(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _header(result: dict[str, Any]) -> str:
    model, data = result.get("model", {}), result.get("data", {})
    facts = [
        f"model <b>{_e(model.get('name', '?'))}</b> {_e(model.get('version', ''))}",
        f"threshold {_fmt(model.get('threshold'))} (target FPR {_fmt(model.get('target_fpr'))})",
        f"split <b>{_e(data.get('split') or 'all')}</b>, {_fmt(result.get('n', 0))} images scored",
        f"{_fmt(data.get('unreadable', 0))} unreadable",
        *(
            f"{_fmt(n)} the import had excluded as {_e(reason)}, evaluated anyway"
            for reason, n in data.get("import_excluded", {}).items()
        ),
        f"written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ]
    return f"<p class='muted'>{' · '.join(facts)}</p>"


def _summary_table(result: dict[str, Any]) -> str:
    rows = [(label, result.get(key)) for key, label in METRIC_COLUMNS]
    if "multiclass_accuracy" in result:
        rows.append(("multi-class accuracy", result["multiclass_accuracy"]))
    return _table(("metric", "value"), rows)


def _notes(notes: list[str]) -> str:
    return "".join(f"<p class='muted'>Note: {_e(n)}</p>" for n in notes)


def _figures(result: dict[str, Any], y: np.ndarray, p: np.ndarray) -> str:
    threshold = float(result.get("threshold", 0.5))
    images = [
        ("ROC curve", _plots.roc_png(y, p, threshold=threshold)),
        ("Precision-recall curve", _plots.pr_png(y, p)),
        ("Reliability diagram", _plots.reliability_png(y, p)),
        (
            "Confusion matrix",
            _plots.confusion_png(result["confusion_matrix"], result["class_names"]),
        ),
        ("Score distribution", _plots.histogram_png(y, p, threshold=threshold)),
    ]
    parts = [
        f'<figure><img src="data:image/png;base64,{png}" alt="{_e(name)}">'
        f"<figcaption>{_e(name)}</figcaption></figure>"
        if png
        else f"<p class='muted'>{_e(name)}: not defined on one class.</p>"
        for name, png in images
    ]
    return f"<div class='figs'>{''.join(parts)}</div>"


GROUPS = (  # by_source / by_generator rows
    ("label", "label"),
    ("n", "n"),
    ("recall", "TPR at threshold"),
    ("false_positive_rate", "FPR at threshold"),
    ("mean_p_ai", "mean p_ai"),
    ("roc_auc", "ROC-AUC"),
)


def _metrics_section(
    title: str, groups: dict[str, Any] | None, key_name: str, columns: tuple = METRIC_COLUMNS
) -> str:
    if not groups:
        return ""
    header = (key_name, *(label for _, label in columns))
    rows = [(name, *(m.get(key) for key, _ in columns)) for name, m in groups.items()]
    return f"<h2>{_e(title)}</h2>" + _table(header, rows)


def _robustness_section(robustness: dict[str, Any] | None) -> str:
    if not robustness:
        return ""
    labels = sorted({label for m in robustness.values() for label in m.get("mean_p_ai", {})})
    columns = ("n", "accuracy", "recall", "false_positive_rate", "roc_auc", "tpr_at_fpr_5pct")
    names = dict(METRIC_COLUMNS)
    header = ("perturbation", *(names[c] for c in columns), *(f"mean p_ai {lb}" for lb in labels))
    rows = [
        (name, *(m.get(c) for c in columns), *(m.get("mean_p_ai", {}).get(lb) for lb in labels))
        for name, m in robustness.items()
    ]
    clean = robustness.get("clean", {}).get("n", 0)
    intro = (
        f"<p class='muted'>A seeded stratified sample of {clean:,} of the evaluated images, "
        "re-scored after each perturbation; <i>clean</i> is the same sample unperturbed.</p>"
    )
    return "<h2>Robustness</h2>" + intro + _table(header, rows)


def _worst_errors_section(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "<h2>Worst errors</h2><p class='muted'>No misclassified images.</p>"
    cards = []
    for item in errors:
        thumb = _thumbnail(item["path"])
        img = f'<img src="data:image/jpeg;base64,{thumb}" alt="">' if thumb else "<i>unreadable</i>"
        cards.append(
            f"<div class='thumb'>{img}<b>{_e(item['label'])}</b> → {_e(item['predicted'])}<br>"
            f"p_ai {item['p_ai']:.3f}<br>"
            f"<span class='muted'>{_e(Path(item['path']).name)}</span></div>"
        )
    return "<h2>Worst errors</h2><div class='thumbs'>" + "".join(cards) + "</div>"


def _thumbnail(path: str) -> str | None:
    """A base64 JPEG no larger than THUMBNAIL; tiny images are enlarged with visible pixels."""
    try:
        img = open_image(path)
    except (OSError, ValueError):
        return None
    scale = THUMBNAIL / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _errors_section(errors: list[dict[str, str]], *, shown: int = 50) -> str:
    if not errors:
        return ""
    rows = [(e["path"], e["error"]) for e in errors[:shown]]
    more = f"<p class='muted'>… and {len(errors) - shown:,} more.</p>" if len(errors) > shown else ""
    return f"<h2>Unreadable images ({len(errors):,})</h2>" + _table(("path", "error"), rows) + more
