"""Registration after the gate: only a candidate that passed becomes a version; if recording the gate or
setting the alias fails, the version is deleted again, so nothing is half-registered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deeptrust.pipeline.register import outcome_of, register_challenger
from deeptrust.registry import RegistrationError, Store

MODELS = Path(__file__).resolve().parents[2] / "models"
PASSED = {"passed": True, "report": {"json": "", "html": ""}, "suite": "tiny@v1:abc", "checks": []}


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    target = tmp_path / "candidate"
    target.mkdir()
    for name in ("model.onnx", "card.json"):
        shutil.copy(MODELS / "cifake" / name, target / name)
    return target


def test_only_a_passed_candidate_is_registered_and_never_half(
    candidate: Path, tmp_path: Path, monkeypatch
) -> None:
    import deeptrust.registry

    # a failed gate: refused before anything is written
    failed = {
        "passed": False,
        "checks": [{"slice": "overall", "metric": "accuracy", "value": 0.5, "bound": 0.85, "passed": False}],
    }
    outcome = outcome_of(failed)
    assert outcome["failures"] == ["overall accuracy 0.5000 vs bound 0.8500"]
    with pytest.raises(RegistrationError, match="did not pass the quality gate"):
        register_challenger(candidate, "trial", outcome)
    store = Store()
    assert not store.has_model("trial")

    # a pass (read back from its gate.json): a version, the gate recorded on it, aliased challenger
    report = tmp_path / "gate" / "gate.json"
    report.parent.mkdir()
    report.write_text(json.dumps(PASSED | {"report": {"json": str(report), "html": ""}}))
    first = register_challenger(candidate, "trial", outcome_of(json.loads(report.read_text())))
    assert store.aliases("trial") == {"challenger": first}
    assert store.version("trial", first).gate is True

    # the alias cannot be set (the registry went away mid-way): the new version is deleted again
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("registry unreachable")

    monkeypatch.setattr(deeptrust.registry, "set_alias", broken)
    with pytest.raises(ConnectionError):
        register_challenger(candidate, "trial", outcome_of(PASSED))
    assert [v.version for v in store.versions("trial")] == [first]
    assert store.aliases("trial") == {"challenger": first}
