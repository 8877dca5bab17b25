"""``run_gate``: score a candidate (and the champion) on a suite, apply the rules, report, record.

Both models are scored by :func:`deeptrust.evaluate.run.evaluate_model` on exactly the suite's rows
(checked against the suite's hashes first). A candidate whose classes differ from the champion's or
from the suite's labels is refused with ``GateError``: there is nothing like-for-like to compare.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeptrust.gate.checks import Check, floor_checks, regression_checks
from deeptrust.gate.suite import Suite, SuiteError, freeze_suite, load_suite, rows_sha256


class GateError(ValueError):
    """The gate cannot run as asked (bad suite, incomparable models); no result is recorded."""


@dataclass
class GateResult:
    candidate: dict[str, Any]
    champion: dict[str, Any] | None
    suite: str
    passed: bool
    checks: list[Check]
    metrics: dict[str, Any]  # "candidate" / "champion" → overall, per-source and robustness figures
    notes: list[str] = field(default_factory=list)
    at: str = ""
    report: dict[str, str] = field(default_factory=dict)  # "json" / "html" → path
    recorded: bool = False

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.gating and not c.passed]

    def summary(self) -> dict[str, Any]:
        """The short form recorded on the registry version."""
        overall = self.metrics["candidate"]["overall"]
        return {
            "passed": self.passed,
            "suite": self.suite,
            "accuracy": overall.get("accuracy"),
            "f1": overall.get("f1"),
            "false_positive_rate": overall.get("false_positive_rate"),
            "against": self.champion.get("reference") if self.champion else None,
            "failed": [f"{c.slice} {c.metric}" for c in self.failures][:20],
        }

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["checks"] = [c.to_dict() for c in self.checks]
        return body


def run_gate(
    candidate_ref: str,
    *,
    against: str | None = "champion",
    suite: str | Path | None = None,
    out_dir: Path | None = None,
    record: bool = True,
    freeze: bool = False,
    progress: bool = False,
) -> GateResult:
    """Gate ``candidate_ref`` on ``suite`` (default: the suite named like the model) against ``against``
    (an alias of the candidate's model, a reference, or None for floors only); write gate.json and
    gate.html under ``out_dir`` and, for a registered candidate, record the outcome on its version."""
    from deeptrust.detector import Detector
    from deeptrust.registry import resolve_reference

    cand = resolve_reference(candidate_ref)
    if cand.source == "local" and record:  # a bare name before any registry: its version 1, to record on
        cand = resolve_reference(f"{cand.name}@champion")
    cand_detector = Detector.load(cand.path)
    the_suite = load_suite(suite or cand.name or cand_detector.card.name)
    rows = suite_rows(the_suite, freeze=freeze)
    if freeze:  # the suite's identity covers the hashes just written
        the_suite = load_suite(the_suite.path)
    champ, champ_detector, notes = _champion(cand, against)
    if champ_detector is not None:
        _comparable(cand_detector.card.class_names, champ_detector.card.class_names)
    _labels_known(rows, cand_detector.card.class_names, the_suite)
    cand_metrics = _measure(cand_detector, rows, the_suite, progress)
    checks = floor_checks(cand_metrics, the_suite, cand_detector.card.target_fpr)
    metrics = {"candidate": _figures(cand_metrics)}
    if champ_detector is not None:
        champ_metrics = _measure(champ_detector, rows, the_suite, progress)
        checks += regression_checks(cand_metrics, champ_metrics, the_suite)
        metrics["champion"] = _figures(champ_metrics)
    result = GateResult(
        candidate=_describe(cand, cand_detector),
        champion=_describe(champ, champ_detector) if champ_detector is not None else None,
        suite=the_suite.identity,
        passed=all(c.passed for c in checks if c.gating),
        checks=checks,
        metrics=metrics,
        notes=notes,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    from deeptrust.gate.report import write_reports

    result.report = write_reports(result, out_dir or _default_out(cand, cand_detector))
    if record and cand.source in ("registry", "cache") and cand.name and cand.version:
        from deeptrust.registry import record_gate

        record_gate(
            cand.name,
            cand.version,
            passed=result.passed,
            report_path=Path(result.report["json"]),
            summary=result.summary(),
            suite=result.suite,
        )
        result.recorded = True
    elif record:
        result.notes.append("the candidate is not a registered version: the result is not recorded")
    return result


def suite_rows(suite: Suite, *, freeze: bool = False) -> Any:
    """Every row the suite names, after checking each entry's data against its recorded hash."""
    import pandas as pd

    from deeptrust.evaluate.run import select_rows

    parts, measured = [], []
    for entry in suite.data:
        manifest = _manifest(entry.dataset, entry.options)
        rows = select_rows(manifest, split=entry.split, limit=entry.limit, seed=entry.seed)
        digest = rows_sha256(rows)
        measured.append(digest)
        if entry.sha256 and entry.sha256 != digest:
            raise SuiteError(
                f"suite {suite.name}: the data of {entry.dataset} ({entry.split}) changed: sha256 "
                f"{digest[:12]}…, the suite fixes {entry.sha256[:12]}…; a new suite version is needed"
            )
        if not entry.sha256 and not freeze:
            raise SuiteError(
                f"suite {suite.path} does not fix the hash of {entry.dataset}: run once with --freeze "
                f"to record it (sha256 {digest})"
            )
        parts.append(rows)
    if freeze and any(not e.sha256 for e in suite.data):
        freeze_suite(suite.path, measured)
    return pd.concat(parts, ignore_index=True)


def _manifest(dataset: str, options: dict[str, Any]) -> Any:
    """The dataset's images, including those its import set aside (as ``deeptrust evaluate`` does)."""
    import pandas as pd

    from deeptrust.data import ensure_dataset

    try:
        imported = ensure_dataset(dataset, **options)
    except (OSError, ValueError) as exc:
        raise SuiteError(f"cannot load suite data {dataset!r}: {exc}") from exc
    excluded = getattr(imported, "excluded", None)
    if excluded is None or excluded.empty:
        return imported.manifest
    excluded = excluded.drop(columns=["reason", "error"], errors="ignore")
    return pd.concat([imported.manifest, excluded], ignore_index=True)


def _champion(cand: Any, against: str | None) -> tuple[Any, Any, list[str]]:
    from deeptrust.detector import Detector
    from deeptrust.registry import UnknownModelError, parse_reference, resolve_reference

    if against in (None, "", "none"):
        return None, None, ["no comparison asked (--against none): floors only"]
    reference = against
    if parse_reference(against) is not None and "@" not in against and "/" not in against and cand.name:
        reference = f"{cand.name}@{against}"  # an alias of the candidate's own model
    try:
        champ = resolve_reference(reference)
    except UnknownModelError as exc:
        if against == "champion":  # a first model has nothing to be compared with
            return None, None, [f"no champion to compare with ({exc}): floors only"]
        raise
    if champ.directory.resolve() == cand.directory.resolve():
        return None, None, [f"the candidate is {reference} itself: floors only"]
    return champ, Detector.load(champ.path), []


def _comparable(candidate: tuple[str, ...], champion: tuple[str, ...]) -> None:
    if tuple(candidate) != tuple(champion):
        raise GateError(
            f"the candidate's classes {list(candidate)} differ from the champion's {list(champion)}: "
            "their scores cannot be compared; register it under another name or gate with --against none"
        )


def _labels_known(rows: Any, class_names: tuple[str, ...], suite: Suite) -> None:
    labels = sorted(set(rows["label"].astype(str)))
    if not set(labels) <= set(class_names):
        raise GateError(
            f"suite {suite.name}'s labels {labels} are not all among the candidate's classes "
            f"{list(class_names)}: the suite measures another task; choose a suite with --suite"
        )


def _measure(detector: Any, rows: Any, suite: Suite, progress: bool) -> dict[str, Any]:
    from deeptrust.evaluate.run import DataError, evaluate_model

    try:
        return evaluate_model(
            detector,
            rows,
            split=None,
            robustness=suite.robustness,
            robustness_limit=suite.robustness_limit,
            progress=progress,
        )
    except DataError as exc:
        raise GateError(f"{detector.card.name} cannot be scored on suite {suite.name}: {exc}") from exc


FIGURES = ("n", "accuracy", "precision", "recall", "f1", "false_positive_rate", "roc_auc", "tpr_at_fpr_5pct")


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    def pick(m: dict[str, Any]) -> dict[str, Any]:
        return {k: m.get(k) for k in FIGURES if k in m}

    return {
        "overall": pick(result),
        "per_source": {k: pick(v) for k, v in (result.get("per_source") or {}).items()},
        "robustness": {k: pick(v) for k, v in (result.get("robustness") or {}).items()},
    }


def _describe(resolution: Any, detector: Any) -> dict[str, Any]:
    card = detector.card
    return {
        "reference": resolution.reference,
        "name": resolution.name or card.name,
        "version": resolution.version,
        "card_version": card.version,
        "classes": list(card.class_names),
        "threshold": card.threshold,
        "target_fpr": card.target_fpr,
    }


def _default_out(resolution: Any, detector: Any) -> Path:
    from deeptrust.settings import get_settings

    name = resolution.name or detector.card.name
    tag = f"v{resolution.version}" if resolution.version else detector.card.version
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return get_settings().home / "gate" / f"{name}-{tag}-{stamp}"
