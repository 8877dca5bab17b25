"""Live quality from feedback: reviewed items joined to what the model answered → precision, recall and FPR
per model version, exported as gauges and refreshed every ``DEEPTRUST_QUALITY_INTERVAL_S``.

Each feedback row records the prediction it is about (model name and version, predicted label) next to
the moderator's final label, so the join is within the row. "Positive" is any class but the card's real one
(AI-generated). The sample is what users flagged plus the borderline images the service queued, not a
random draw of traffic: the figures track change over time and between versions, they are not the
model's accuracy on all traffic (the README says so too).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from deeptrust.rollout.metrics import RolloutMetrics

log = logging.getLogger("deeptrust.rollout")
OUTCOMES = ("tp", "fp", "tn", "fn")
Row = tuple[str | None, str, str, str, int]  # model name, version, predicted, final, count


def confusion(rows: Iterable[Row], real_labels: set[str]) -> dict[tuple[str, str], Counter[str]]:
    """Per (model, version): tp/fp/tn/fn counts, AI (any non-real label) being the positive class."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for name, version, predicted, final, n in rows:
        said_ai, is_ai = predicted not in real_labels, final not in real_labels
        outcome = ("t" if said_ai == is_ai else "f") + ("p" if said_ai else "n")
        out.setdefault((name or "", version), Counter())[outcome] += n
    return out


def rates(c: Counter[str]) -> dict[str, float]:
    """precision, recall, fpr; NaN where the denominator is 0 (no positives predicted, none true…)."""

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    return {
        "precision": ratio(c["tp"], c["tp"] + c["fp"]),
        "recall": ratio(c["tp"], c["tp"] + c["fn"]),
        "fpr": ratio(c["fp"], c["fp"] + c["tn"]),
    }


def reviewed_rows(store: Any, *, days: float) -> list[Row]:
    """Reviewed items decided in the last ``days``, grouped by model version and (predicted, final) label."""
    from deeptrust.feedback.models import FeedbackItem, Status, utcnow

    item = FeedbackItem
    query = (
        select(item.model_name, item.model_version, item.predicted_label, item.final_label, func.count())
        .where(item.status.in_([Status.APPROVED, Status.RELABELLED]), item.final_label.is_not(None))
        .where(item.reviewed_at >= utcnow() - timedelta(days=days))
        .group_by(item.model_name, item.model_version, item.predicted_label, item.final_label)
    )
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


class QualityLoop:
    """A daemon thread that recomputes the quality gauges from the store every ``interval_s``."""

    def __init__(
        self,
        store: Callable[[], Any],
        metrics: RolloutMetrics,
        *,
        real_labels: Callable[[], set[str]],
        days: float,
        interval_s: float,
    ):
        self.store, self.metrics, self.real_labels = store, metrics, real_labels
        self.days, self.interval_s = days, interval_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="feedback-quality", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(10)

    def run_once(self) -> dict[tuple[str, str], dict[str, float]]:
        """Recompute the gauges; ``store()`` is the service's feedback store (None: no feedback here)."""
        store = self.store()
        if store is None:
            return {}
        table = confusion(reviewed_rows(store, days=self.days), self.real_labels())
        out = {}
        m = self.metrics
        for (name, version), counts in table.items():
            labels = {"model": name, "version": version}
            out[(name, version)] = figures = rates(counts)
            m.precision.labels(**labels).set(figures["precision"])
            m.recall.labels(**labels).set(figures["recall"])
            m.fpr.labels(**labels).set(figures["fpr"])
            for outcome in OUTCOMES:
                m.reviewed.labels(**labels, outcome=outcome).set(counts[outcome])
        self.runs += 1
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database may be briefly away; the next round tries again
                log.exception("could not compute live quality from feedback")
            if self._stop.wait(self.interval_s):
                return
