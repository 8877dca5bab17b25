"""What a scan found, accumulated row by row in constant memory: counts, a histogram, the top AI scores.

Covers every row of the output, including rows kept from an earlier run that ``--resume`` continued.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass, field

from rich import box
from rich.table import Table

from deeptrust.evidence.scan import parse_entries
from deeptrust.scan.results import Row, error_reason

HISTOGRAM_BINS = 20
TOP_AI = 24


@dataclass
class Summary:
    model: str = ""
    threshold: float = 0.5
    real_class: str = "REAL"
    rows: int = 0  # in the output, this run's and resumed ones
    resumed: int = 0  # of which kept from an earlier run
    labels: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # by reason
    duplicates: int = 0
    seconds: float = 0.0  # this run's scanning time
    first_rows_s: float = 0.0  # until the engine's first rows came back (start-up: Ray's actors)
    first_rows: int = 0  # how many came back together then
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)  # p_ai of scored rows
    top_ai: list[tuple[float, str]] = field(default_factory=list)  # min-heap of (p_ai, path)
    unscored: list[str] = field(default_factory=list)  # inputs that need another --resume
    # Rows whose verdict the evidence decided, by "verdict (rule)"; evidence entries by kind (issue 16).
    evidence_verdicts: Counter[str] = field(default_factory=Counter)
    evidence_kinds: Counter[str] = field(default_factory=Counter)

    def add(self, row: Row, *, resumed: bool = False) -> None:
        self.rows += 1
        self.resumed += resumed
        if row["error"]:
            self.errors[error_reason(row["error"])] += 1
            return
        self.labels[row["label"]] += 1
        self._add_evidence(row)
        p_ai = row["p_ai"]
        if p_ai is None or math.isnan(p_ai):
            return
        self.histogram[min(int(p_ai * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)] += 1
        if row["label"] != self.real_class:
            item = (p_ai, row["path"])
            if len(self.top_ai) < TOP_AI:
                heapq.heappush(self.top_ai, item)
            elif item > self.top_ai[0]:
                heapq.heapreplace(self.top_ai, item)

    def _add_evidence(self, row: Row) -> None:
        rule = row.get("verdict_rule") or ""
        if rule and rule != "pixels":
            self.evidence_verdicts[f"{row['verdict']} ({rule})"] += 1
        if row.get("evidence") not in (None, "", "[]"):
            self.evidence_kinds.update(e.kind for e in parse_entries(row["evidence"]))

    @property
    def scanned(self) -> int:
        """Rows this run produced."""
        return self.rows - self.resumed

    @property
    def images_per_s(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_images_per_s(self) -> float:
        """The rate once the first rows were back, i.e. without the engine's start-up."""
        after = self.seconds - self.first_rows_s
        return (self.scanned - self.first_rows) / after if after > 0 else 0.0

    def most_confident_ai(self) -> list[tuple[float, str]]:
        return sorted(self.top_ai, reverse=True)

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "rows": self.rows,
            "resumed": self.resumed,
            "scanned": self.scanned,
            "labels": dict(self.labels),
            "errors": dict(self.errors),
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            "first_rows_s": round(self.first_rows_s, 3),
            "steady_images_per_s": round(self.steady_images_per_s, 2),
            "unscored": len(self.unscored),
            "evidence_verdicts": dict(self.evidence_verdicts),
            "evidence_kinds": dict(self.evidence_kinds),
        }


def summary_table(summary: Summary) -> Table:
    """Counts by label and by error reason, duplicates and speed, as one narrow table."""
    table = Table(
        title=f"Scan summary · {summary.model} · threshold {summary.threshold:.3f}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("")
    table.add_column("images", justify="right")
    table.add_column("share", justify="right")
    total = max(summary.rows, 1)
    for label, n in sorted(summary.labels.items()):
        table.add_row(f"label {label}", f"{n:,}", f"{n / total:.1%}")
    for reason, n in sorted(summary.errors.items()):
        table.add_row(f"[red]error {reason}[/]", f"{n:,}", f"{n / total:.1%}")
    table.add_row("all rows", f"{summary.rows:,}", "", end_section=True)
    for verdict, n in sorted(summary.evidence_verdicts.items()):
        table.add_row(f"verdict {verdict} by evidence", f"{n:,}", f"{n / total:.1%}")
    for kind, n in sorted(summary.evidence_kinds.items()):
        table.add_row(f"evidence {kind}", f"{n:,}", "", end_section=kind == max(summary.evidence_kinds))
    table.add_row("duplicates (scored once)", f"{summary.duplicates:,}", f"{summary.duplicates / total:.1%}")
    if summary.resumed:
        table.add_row("kept from the earlier run", f"{summary.resumed:,}", "")
    table.add_row(
        "scanned this run",
        f"{summary.scanned:,}",
        f"{summary.images_per_s:,.1f}/s in {summary.seconds:.1f} s",
    )
    return table
