"""Rows of a scan, and the bookkeeping that scores each distinct content once.

Both engines hand their outcomes to a :class:`Resolver`: the first input with a given sha256 (its
*owner*) is decoded and scored; later copies get the owner's outcome, waiting for it if it is still
in flight. A resumed scan seeds the resolver with the outcomes already in the output, so a copy of
an image scored in an earlier run is not scored again either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from deeptrust.card import ModelCard
from deeptrust.evidence.fusion import fuse
from deeptrust.evidence.pdq import join_pdq, split_pdq
from deeptrust.evidence.scan import parse_entries

if TYPE_CHECKING:
    from deeptrust.detector import Detector

BASE_COLUMNS = ("path", "sha256", "width", "height", "format", "label", "p_ai")
# The fused verdict (ai / real / tampered), the fusion rule that decided, and the evidence entries as a
# JSON list of {kind, signal, strength, detail} (deeptrust.evidence; README "Evidence").
EVIDENCE_COLUMNS = ("verdict", "verdict_rule", "evidence", "pdq")  # pdq: the image's PDQ hash (hashes/)
TAIL_COLUMNS = ("model", "model_version", "error")
INT_COLUMNS = ("width", "height")

Row = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What scoring one content gave: its size and format, class probabilities, or an error."""

    width: int | None = None
    height: int | None = None
    format: str = ""
    probs: tuple[float, ...] | None = None
    error: str = ""  # "reason: message"; empty when scored
    evidence: str = ""  # JSON list of evidence entries (scan_evidence); "" when none were read


def score_columns(card: ModelCard) -> tuple[str, ...]:
    return tuple(f"score_{name}" for name in card.class_names)


def scan_columns(card: ModelCard) -> tuple[str, ...]:
    return (*BASE_COLUMNS, *score_columns(card), *EVIDENCE_COLUMNS, *TAIL_COLUMNS)


def is_float_column(column: str) -> bool:
    return column == "p_ai" or column.startswith("score_")


def error_reason(error: str) -> str:
    return error.partition(":")[0] if error else ""


class RowMaker:
    """Outcomes → rows in the model's column order, labelled by the detector's rule."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.card = detector.card
        self.columns = scan_columns(self.card)
        self.scores = score_columns(self.card)

    def row(self, path: str, sha256: str, outcome: Outcome) -> Row:
        row: Row = {"path": path, "sha256": sha256, "width": outcome.width, "height": outcome.height}
        row.update(format=outcome.format, label="", p_ai=None)
        row.update(dict.fromkeys(self.scores))
        shown, pdq = split_pdq(outcome.evidence)
        row.update(verdict="", verdict_rule="", evidence=shown or "[]", pdq=pdq)
        if outcome.probs is not None and not outcome.error:
            row["p_ai"] = 1.0 - outcome.probs[self.card.real_index]
            row["label"] = self.detector.label_for(np.asarray(outcome.probs, dtype=np.float64))
            row.update(zip(self.scores, outcome.probs, strict=True))
            verdict = fuse(row["p_ai"], self.card.threshold, parse_entries(outcome.evidence))
            row.update(verdict=verdict.label, verdict_rule=verdict.rule)
        row.update(model=self.card.name, model_version=self.card.version, error=outcome.error)
        return row

    def outcome(self, row: Row) -> Outcome:
        """The outcome a stored row records (to reuse it for copies after a resume)."""
        probs = tuple(row[c] for c in self.scores)
        scored = not row["error"] and all(p is not None and not math.isnan(p) for p in probs)
        evidence = "" if row.get("evidence") in (None, "", "[]") else row["evidence"]
        return Outcome(
            row["width"], row["height"], row["format"] or "", probs if scored else None, row["error"],
            join_pdq(evidence, row.get("pdq") or ""),
        )  # fmt: skip


class Resolver:
    """Scores each sha256 once; copies reuse the owner's outcome (see the module docstring)."""

    def __init__(self, rows: RowMaker) -> None:
        self.rows = rows
        self.known: dict[str, Outcome] = {}
        self.owners: dict[str, str] = {}
        self.waiting: dict[str, list[str]] = {}
        self.duplicates = 0  # rows, this run and resumed, that reused another input's outcome

    def remember(self, row: Row) -> None:
        """A row already in the output (resume): later copies of its content reuse it."""
        sha = row["sha256"]
        if not sha:
            return
        if sha in self.known:
            self.duplicates += 1
            return
        self.known[sha] = self.rows.outcome(row)
        self.owners[sha] = ""

    def claim(self, sha: str, path: str) -> bool:
        """True when ``path`` owns this content and must score it; False for a copy."""
        return self.owners.setdefault(sha, path) == path

    def copy(self, path: str, sha: str) -> list[Row]:
        """A copy of content owned by another input: its row now, or once the owner's outcome is in."""
        if sha in self.known:
            self.duplicates += 1
            return [self.rows.row(path, sha, self.known[sha])]
        self.waiting.setdefault(sha, []).append(path)
        return []

    def resolve(self, path: str, sha: str, outcome: Outcome) -> list[Row]:
        """The owner's outcome: its row, plus rows for the copies that were waiting for it."""
        if sha:
            self.known[sha] = outcome
        rows = [self.rows.row(path, sha, outcome)]
        for copy in self.waiting.pop(sha, []) if sha else []:
            self.duplicates += 1
            rows.append(self.rows.row(copy, sha, outcome))
        return rows

    def failed(self, path: str, sha: str, error: str) -> list[Row]:
        return self.resolve(path, sha, Outcome(error=error))

    def unresolved(self) -> list[str]:
        """Copies whose owner never came back (an engine lost it); left out so that --resume retries them."""
        lost = [path for paths in self.waiting.values() for path in paths]
        self.waiting.clear()
        return lost
