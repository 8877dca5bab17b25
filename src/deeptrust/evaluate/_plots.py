"""The report's figures, each a base64 PNG ready for ``<img src="data:image/png;base64,…">``.

Figures are drawn on matplotlib's Agg canvas without pyplot, so nothing global changes and no
display is needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from deeptrust.evaluate.metrics import reliability_bins

SIZE = (4.6, 4.0)  # inches
DPI = 110


def _new_figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _to_base64(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.any() and not y.all())


def roc_png(y: np.ndarray, p: np.ndarray, *, threshold: float) -> str | None:
    """ROC curve with the card's operating point and the 1 % / 5 % FPR lines; None on one class."""
    if not _both_classes(y):
        return None
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = _new_figure()
    ax.plot(fpr, tpr, color="#2563eb", lw=2)
    ax.plot([0, 1], [0, 1], color="#9ca3af", lw=1, ls="--")
    for x in (0.01, 0.05):
        ax.axvline(x, color="#f59e0b", lw=0.8, ls=":")
    said_ai = p >= threshold
    point = (said_ai[~y].mean(), said_ai[y].mean())
    ax.plot(*point, "o", color="#dc2626", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="false-positive rate (real called AI)", ylabel="true-positive rate", title="ROC")
    ax.legend(loc="lower right")
    return _to_base64(fig)


def pr_png(y: np.ndarray, p: np.ndarray) -> str | None:
    """Precision-recall curve with the base rate; None on one class."""
    if not _both_classes(y):
        return None
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = _new_figure()
    ax.plot(recall, precision, color="#2563eb", lw=2, drawstyle="steps-post")
    ax.axhline(y.mean(), color="#9ca3af", lw=1, ls="--", label=f"share of AI {y.mean():.2f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return _to_base64(fig)


def reliability_png(y: np.ndarray, p: np.ndarray) -> str | None:
    """Observed share of AI images against mean p_ai per bin, each bar labelled with its count."""
    if len(y) == 0:
        return None
    edges, counts, mean_p, frac_pos = reliability_bins(y, p)
    fig, ax = _new_figure()
    used = counts > 0
    centres = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)[used]
    ax.bar(centres[used], frac_pos[used], width=widths, color="#93c5fd", edgecolor="#2563eb")
    ax.plot(mean_p[used], frac_pos[used], "o", color="#1d4ed8", ms=4, label="bin mean p_ai")
    ax.plot([0, 1], [0, 1], color="#9ca3af", lw=1, ls="--", label="perfect calibration")
    for x, height, count in zip(centres[used], frac_pos[used], counts[used], strict=True):
        ax.text(x, height + 0.01, f"{int(count)}", ha="center", va="bottom", fontsize=6, color="#6b7280")
    ax.set(xlabel="predicted p_ai", ylabel="observed share of AI", title="Reliability", xlim=(0, 1))
    ax.legend(loc="upper left", fontsize="small")
    return _to_base64(fig)


def confusion_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> str:
    """Confusion matrix, rows true and columns predicted, shaded by row share."""
    m = np.asarray(matrix, dtype=np.float64)
    shares = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = _new_figure()
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=30, ha="right")
    ax.set_yticks(ticks, class_names)
    for (i, j), count in np.ndenumerate(m):
        colour = "white" if shares[i, j] > 0.5 else "black"
        ax.text(j, i, f"{int(count):,}", ha="center", va="center", color=colour)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    return _to_base64(fig)


def histogram_png(y: np.ndarray, p: np.ndarray, *, threshold: float) -> str | None:
    """p_ai distributions of real and AI images, with the threshold."""
    if len(y) == 0:
        return None
    fig, ax = _new_figure()
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(p[~y], bins=bins, alpha=0.6, color="#16a34a", label="real")
    ax.hist(p[y], bins=bins, alpha=0.6, color="#dc2626", label="AI")
    ax.axvline(threshold, color="black", lw=1, ls="--", label="threshold")
    ax.set(xlabel="p_ai", ylabel="images", title="Score distribution", yscale="log")
    ax.legend(loc="upper center")
    return _to_base64(fig)
