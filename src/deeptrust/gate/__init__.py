"""The quality gate: may this model version ship? (``deeptrust gate``)

API::

    run_gate(candidate_ref, against="champion", suite=None, out_dir=None, record=True) -> GateResult
        # candidate_ref: "photos/4", "photos@challenger", a directory; suite: a name under
        # configs/gate/ or a YAML path (default: the model's name). GateResult.passed, .checks,
        # .failures, .report {"json", "html"}, .summary(), .recorded (tags on the registry version)
    load_suite(name_or_path) -> Suite

Rules (the suite may override the numbers): floors on the candidate (accuracy ≥ 0.85, F1 ≥ 0.80,
false-positive rate at its threshold ≤ the card's target + 0.02) and, against the champion, on every
slice (overall, each source, each robustness case) accuracy no lower than the champion's − 0.02 and
overall false-positive rate no higher than + 0.02; slices under 30 images are reported, not gating.
Errors: ``GateError`` (incomparable models: other classes), ``SuiteError`` (suite missing, or its
data no longer matches the hashes it fixes). Nothing is recorded when the gate errs.
"""

from __future__ import annotations

from deeptrust.gate.checks import Check
from deeptrust.gate.run import GateError, GateResult, run_gate
from deeptrust.gate.suite import Suite, SuiteError, load_suite

__all__ = ["Check", "GateError", "GateResult", "Suite", "SuiteError", "load_suite", "run_gate"]
