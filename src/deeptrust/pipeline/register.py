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


def gate_candidate(candidate: Path, model: str, out_dir: Path, *, against: str = "champion") -> dict[str, Any]:
    """The gate's outcome for ``candidate``: passed, report (JSON path), html, failures, summary, suite."""
    from deeptrust.gate import run_gate

    report = run_gate(str(candidate), against=f"{model}@{against}", out_dir=out_dir, record=False)
    return _outcome(report, out_dir)


def _outcome(report: Any, out_dir: Path) -> dict[str, Any]:
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return {
        "passed": bool(data.get("passed")),
        "report": str(out_dir / "gate.json"),
        "html": str(out_dir / "gate.html"),
        "failures": list(data.get("failures") or []),
        "suite": str(data.get("suite") or ""),
        "summary": data.get("summary") or {},
    }


def register_challenger(
    candidate: Path, model: str, gate: dict[str, Any], *, tags: dict[str, str] | None = None, alias: str = CHALLENGER
) -> int:
    """Register a candidate that passed ``gate`` as a new version of ``model``, aliased ``alias``."""
    from deeptrust.registry import RegistrationError, Store, record_gate, register_model, set_alias

    if not gate.get("passed"):
        raise RegistrationError(f"{candidate} did not pass the quality gate; it is not registered")
    store = Store()
    version = register_model(candidate, name=model, tags=tags, store=store)
    try:
        record_gate(
            model, version, passed=True, report_path=Path(gate["report"]), summary=gate.get("summary"),
            suite=gate.get("suite", ""), store=store,
        )  # fmt: skip
        set_alias(model, alias, version, store=store)
    except BaseException:
        with contextlib.suppress(Exception):  # nothing half-registered: the version goes again
            store.client.delete_model_version(model, str(version))
        raise
    return version
