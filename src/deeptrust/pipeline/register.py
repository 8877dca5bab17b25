"""The pipeline's last two steps for one candidate model directory: the quality gate, then registration.

``gate_candidate`` runs the gate (``deeptrust.gate``) on the directory against the model's champion and
returns its outcome; ``register_challenger`` registers a candidate that passed as a new version, records
the gate on it and points ``challenger`` at it, or leaves no version at all if any of that fails (the
version is deleted again), so a refused or broken candidate is never half-registered.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

CHALLENGER = "challenger"


def gate_candidate(
    candidate: Path, model: str, out_dir: Path, *, against: str = "champion", suite: str | Path | None = None
) -> dict[str, Any]:
    """Gate the directory ``candidate`` against ``model@against`` on ``suite`` (default: the model's own);
    nothing is recorded (a directory is no version): the outcome, as ``register_challenger`` takes it."""
    from deeptrust.card import load_card
    from deeptrust.gate import run_gate

    # A bare alias is the candidate's own model's; a first model (no champion yet) then gets floors only.
    reference = against if load_card(candidate).name == model else f"{model}@{against}"
    result = run_gate(str(candidate), against=reference, suite=suite, out_dir=out_dir, record=False)
    return outcome_of(result.to_dict() | {"summary": result.summary()})


def outcome_of(report: dict[str, Any]) -> dict[str, Any]:
    """The fields a registration needs from a gate report (``GateResult.to_dict()`` or its gate.json)."""
    checks = report.get("checks") or []
    failures = [
        f"{c['slice']} {c['metric']} {_num(c.get('value'))} vs bound {_num(c.get('bound'))}"
        for c in checks
        if c.get("gating", True) and not c.get("passed")
    ]
    paths = report.get("report") or {}
    return {
        "passed": bool(report.get("passed")),
        "report": paths.get("json"),
        "html": paths.get("html"),
        "failures": failures,
        "suite": str(report.get("suite") or ""),
        "summary": report.get("summary") or {"passed": bool(report.get("passed"))},
        "notes": list(report.get("notes") or []),
    }


def _num(value: object) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.4f}"


def register_challenger(
    candidate: Path,
    model: str,
    gate: dict[str, Any],
    *,
    tags: dict[str, str] | None = None,
    alias: str = CHALLENGER,
) -> int:
    """Register a candidate that passed ``gate`` as a new version of ``model``, aliased ``alias``."""
    from deeptrust.registry import RegistrationError, Store, record_gate, register_model, set_alias

    if not gate.get("passed"):
        raise RegistrationError(f"{candidate} did not pass the quality gate; it is not registered")
    store = Store()
    version = register_model(candidate, name=model, tags=tags, store=store)
    try:
        report = Path(gate["report"]) if gate.get("report") else None
        record_gate(
            model, version, passed=True, report_path=report, summary=gate.get("summary"),
            suite=gate.get("suite", ""), store=store,
        )  # fmt: skip
        set_alias(model, alias, version, store=store)
    except BaseException:
        with contextlib.suppress(Exception):  # nothing half-registered: the version goes again
            store.client.delete_model_version(model, str(version))
        raise
    return version
