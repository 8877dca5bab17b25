"""Moving versions between roles: aliases, promotion (gated), rollback, gate results, diffs.

``promote`` points an alias (default ``champion``) at a version only when its quality gate passed
(``deeptrust gate``), unless forced with a reason, which is recorded on the version. Every champion is
appended to a history kept on the registered model, which is what ``rollback`` walks back.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from deeptrust.registry.errors import PromotionRefusedError, RegistryError
from deeptrust.registry.reference import ALIAS
from deeptrust.registry.store import CHAMPION_HISTORY, TAG, Store, VersionInfo

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_VALUE_MAX = 5000  # MLflow's limit on a model version tag's value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def set_alias(name: str, alias: str, version: int, *, store: Store | None = None) -> None:
    """Point ``alias`` at ``version`` (no gate check: ``promote`` is the checked way)."""
    import re

    store = store or Store()
    if not re.fullmatch(ALIAS, alias):
        raise RegistryError(f"alias {alias!r} must start with a letter and hold letters, digits, _ or -")
    if alias.isdigit():
        raise RegistryError("an alias cannot be a number (that is a version)")
    store.set_alias(name, alias, version)
    if alias == CHAMPION:
        history = champion_history(store, name)
        if not history or history[-1] != version:
            store.set_model_tag(name, CHAMPION_HISTORY, ",".join(map(str, [*history, version])))


def champion_history(store: Store, name: str) -> list[int]:
    raw = store.model_tags(name).get(CHAMPION_HISTORY, "")
    return [int(v) for v in raw.split(",") if v.strip().isdigit()]


def promote(
    name: str,
    version: int,
    *,
    alias: str = CHAMPION,
    force: bool = False,
    reason: str = "",
    store: Store | None = None,
) -> VersionInfo:
    """Point ``alias`` at ``version`` if its gate passed; ``force`` needs a ``reason`` and records it."""
    store = store or Store()
    info = store.version(name, version)
    if force and not reason.strip():
        raise PromotionRefusedError('--force needs --reason "...": why this version ships without a pass')
    if info.gate is not True and not force:
        state = "has not been through the quality gate" if info.gate is None else "failed the quality gate"
        report = info.tag("gate.report")
        raise PromotionRefusedError(
            f"{name} version {version} {state}{f' (report: {report})' if report else ''}; run "
            f'`deeptrust gate {name}/{version}`, or promote with --force --reason "..."'
        )
    tags = {TAG + f"promoted.{alias}": _now()}
    if force:
        tags |= {
            TAG + "forced.alias": alias,
            TAG + "forced.reason": reason[:TAG_VALUE_MAX],
            TAG + "forced.at": _now(),
        }
    store.set_version_tags(name, version, tags)
    set_alias(name, alias, version, store=store)
    return store.version(name, version)


def rollback(name: str, *, store: Store | None = None) -> tuple[int, int]:
    """Point ``champion`` back at the previous champion; returns (from, to)."""
    store = store or Store()
    current = store.aliases(name).get(CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no champion to roll back")
    history = champion_history(store, name)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise RegistryError(
            f"model {name!r} has had no champion before version {current}: nothing to roll back to"
        )
    previous = history[-1]
    store.set_alias(name, CHAMPION, previous)
    store.set_model_tag(name, CHAMPION_HISTORY, ",".join(map(str, history)))
    store.set_version_tags(name, current, {TAG + "rolled_back_at": _now()})
    return current, previous


def record_gate(
    name: str,
    version: int,
    *,
    passed: bool,
    report_path: Path | None = None,
    summary: dict[str, Any] | None = None,
    suite: str = "",
    store: Store | None = None,
) -> None:
    """Write a gate's outcome on the version (tags) and its report files beside its artifacts."""
    store = store or Store()
    info = store.version(name, version)
    tags = {
        TAG + "gate.passed": "true" if passed else "false",
        TAG + "gate.at": _now(),
        TAG + "gate.suite": suite,
        TAG + "gate.report": str(report_path or ""),
    }
    if summary is not None:
        tags[TAG + "gate.summary"] = json.dumps(summary, sort_keys=True)[:TAG_VALUE_MAX]
    store.set_version_tags(name, version, tags)
    if report_path is not None and info.run_id:
        folder = Path(report_path).parent if Path(report_path).is_file() else Path(report_path)
        with store.errors(f"version {version} of {name!r}"):
            for file in sorted(folder.glob("gate.*")):
                store.client.log_artifact(info.run_id, str(file), "gate")


DIFF_FIELDS = (
    ("card version", "card.version"),
    ("family", "card.family"),
    ("classes", "card.classes"),
    ("threshold", "card.threshold"),
    ("target FPR", "card.target_fpr"),
    ("dataset", "dataset.name"),
    ("dataset hash", "dataset.hash"),
    ("git commit", "git.commit"),
    ("training run", "training.mlflow_run_id"),
    ("test metrics", "card.test"),
    ("gate passed", "gate.passed"),
    ("gate suite", "gate.suite"),
    ("gate summary", "gate.summary"),
    ("onnx sha256", "sha256.model.onnx"),
    ("card sha256", "sha256.card.json"),
)


def diff_versions(name: str, a: int, b: int, *, store: Store | None = None) -> list[tuple[str, str, str]]:
    """(field, value in a, value in b) for every recorded field; aliases first."""
    store = store or Store()
    va, vb = store.version(name, a), store.version(name, b)
    rows = [("aliases", ",".join(va.aliases) or "–", ",".join(vb.aliases) or "–")]
    rows += [(label, va.tag(key, "–") or "–", vb.tag(key, "–") or "–") for label, key in DIFF_FIELDS]
    return rows
