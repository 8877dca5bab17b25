"""The gate's rules, as rows: absolute floors on the candidate, non-regression against the champion.

Each check is one row (slice, metric, value, bound, passed); a check that does not gate (a slice too
small to judge) is reported with ``gating=False``. The gate passes when every gating check passes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deeptrust.gate.suite import Suite

HIGHER = ("accuracy", "f1", "recall", "roc_auc")  # metrics where more is better


@dataclass(frozen=True)
class Check:
    kind: str  # "floor" or "non-regression"
    slice: str  # "overall", "source:<name>", "robustness:<case>"
    metric: str
    value: float | None
    bound: float | None
    passed: bool
    gating: bool = True
    champion: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def slices(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The overall metrics, each source's and each robustness case's, by slice name."""
    out = {"overall": result}
    out |= {f"source:{name}": m for name, m in (result.get("per_source") or {}).items()}
    out |= {
        f"robustness:{name}": m for name, m in (result.get("robustness") or {}).items() if name != "clean"
    }
    return out


def floor_checks(result: dict[str, Any], suite: Suite, target_fpr: float | None) -> list[Check]:
    floors = suite.floors
    checks = [
        _bound("floor", "overall", "accuracy", result.get("accuracy"), floors["accuracy"], higher=True),
        _bound("floor", "overall", "f1", result.get("f1"), floors["f1"], higher=True),
    ]
    fpr = result.get("false_positive_rate")
    if target_fpr is None:
        checks.append(
            Check("floor", "overall", "false_positive_rate", fpr, None, True, False, note="no target")
        )
    else:
        bound = round(target_fpr + floors["fpr_margin"], 6)
        note = f"card's target {target_fpr:g} + {floors['fpr_margin']:g}"
        checks.append(_bound("floor", "overall", "false_positive_rate", fpr, bound, higher=False, note=note))
    return checks


def regression_checks(candidate: dict[str, Any], champion: dict[str, Any], suite: Suite) -> list[Check]:
    """Every slice both models were measured on: no worse than the champion by more than a tolerance."""
    tol = suite.tolerances
    min_n = int(tol.get("min_slice_n", 0))
    ours, theirs = slices(candidate), slices(champion)
    checks = []
    for name, mine in ours.items():
        other = theirs.get(name)
        if other is None:
            continue
        metrics = ["accuracy"] + (["false_positive_rate"] if name == "overall" else [])
        for metric in metrics:
            a, b = mine.get(metric), other.get(metric)
            if a is None or b is None:
                continue
            higher = metric in HIGHER
            bound = b - tol[metric] if higher else b + tol[metric]
            check = _bound("non-regression", name, metric, a, round(bound, 6), higher=higher, champion=b)
            n = int(mine.get("n") or 0)
            if n < min_n:
                check = Check(
                    **{**check.to_dict(), "gating": False, "note": f"n = {n} < {min_n}: reported only"}
                )
            checks.append(check)
    return checks


def _bound(
    kind: str,
    slice_: str,
    metric: str,
    value: float | None,
    bound: float,
    *,
    higher: bool,
    champion: float | None = None,
    note: str = "",
) -> Check:
    if value is None or value != value:  # NaN: a metric that could not be measured fails its check
        return Check(kind, slice_, metric, None, bound, False, champion=champion, note="not measurable")
    passed = value >= bound if higher else value <= bound
    return Check(kind, slice_, metric, float(value), bound, passed, champion=champion, note=note)
