"""``retrain``: a model's reviewed corrections → a new dataset version → base data + corrections → the
pipeline's stages (import, train, export, gate) → a ``challenger`` version if the gate passes.

    deeptrust retrain cifake                        # now, in this terminal (a job row all the same)
    deeptrust retrain cifake --min-new-reviewed 50  # only if 50 corrections arrived since the last one
    curl -X POST .../v1/admin/retrain -d '{"model": "cifake"}'   # queued for the service's worker

Everything is written under ``<home>/retrain/<model>/job-<id>/`` (feedback/, config.yaml, data/, run/,
model/, gate/); the registry sees the new version only once it is complete and has passed, so an
interrupted or refused retrain leaves nothing registered. Runs in the job's own process (torch).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deeptrust.feedback.store import FeedbackStore
from deeptrust.jobs import JobStore
from deeptrust.retrain._feedback import export_reviewed
from deeptrust.retrain.errors import NoNewFeedbackError, RetrainError
from deeptrust.retrain.recipe import recipe_path, with_feedback, write_config
from deeptrust.retrain.watermark import check_new_feedback
from deeptrust.settings import Settings, get_settings
from deeptrust.train.config import load_config


@dataclass
class RetrainResult:
    model: str
    outcome: str  # "registered" (a challenger) or "rejected" (the gate said no; nothing registered)
    version: int | None = None
    alias: str | None = None
    gate: dict[str, Any] = field(default_factory=dict)  # passed, report (JSON path), html, failures
    feedback: dict[str, Any] = field(default_factory=dict)  # items, new, reviewed_through, dataset, hash
    work_dir: str = ""
    reason: str | None = None  # why it was rejected

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retrain(
    model: str,
    *,
    job_id: int,
    min_new_reviewed: int = 1,
    config: Path | None = None,
    settings: Settings | None = None,
    show: bool = True,
) -> RetrainResult:
    """Run one retrain of ``model`` as job ``job_id`` (already running in the jobs table)."""
    settings = settings or get_settings()
    recipe = recipe_path(model, settings.retrain_config_dir, config)
    with FeedbackStore.from_settings(settings) as store, JobStore.from_settings(settings) as jobs:
        store.create_schema()
        new = check_new_feedback(store, jobs, model, min_new_reviewed)
        work = (settings.home / "retrain" / model / f"job-{job_id}").resolve()
        if work.exists():
            shutil.rmtree(work)
        exported, through = export_reviewed(store, model, work / "feedback")
        if not exported.total:
            raise NoNewFeedbackError(
                f"the {new} reviewed correction(s) of {model!r} have no image left on disk (purged?)",
                new=0,
                needed=max(1, min_new_reviewed),
            )
        feedback = _import_feedback(model, job_id, work / "feedback", show)
        feedback |= {"items": exported.total, "new": new, "counts": exported.counts}
        feedback["reviewed_through"] = through.isoformat() if through else None
        print(f"feedback: {exported.total} reviewed images ({new} new) → dataset {feedback['dataset']}")
        candidate = _train_and_export(model, job_id, recipe, work, feedback, show)
        result = RetrainResult(model, "rejected", feedback=feedback, work_dir=str(work))
        suite = _suite(model, settings.retrain_config_dir)
        _gate_and_register(result, candidate, work / "gate", jobs=jobs, job_id=job_id, suite=suite)
    return result


def _import_feedback(model: str, job_id: int, folder: Path, show: bool) -> dict[str, Any]:
    """The corrections as a dataset of their own (a new version each retrain), all in train."""
    from deeptrust.data.importer import import_dataset

    name = f"{model}-feedback-job{job_id}"
    imported = import_dataset(folder, name=name, val_fraction=0.0, test_fraction=0.0, progress=show)
    return {"dataset": name, "hash": imported.dataset_hash, "directory": str(imported.directory)}


def _train_and_export(
    model: str, job_id: int, recipe: Path, work: Path, feedback: dict[str, Any], show: bool
) -> Path:
    from deeptrust.export.run import export_run
    from deeptrust.pipeline.stages import import_for_config

    raw = with_feedback(load_config(recipe), Path(feedback["directory"]), feedback["dataset"], work / "run")
    cfg = write_config(raw, work / "config.yaml")
    import_for_config(work / "config.yaml", work / "data", progress=show)
    if cfg.model.family.endswith("_taps"):
        from deeptrust.probe.run import fit_run

        run_dir = fit_run(cfg, show=show)
    else:
        from deeptrust.train.loop import train

        run_dir = train(cfg, show=show)
    version = f"{_base_version(model)}+retrain.{job_id}"
    export_run(run_dir, work / "model", name=model, version=version, show=show)
    return work / "model"


def _base_version(model: str) -> str:
    """The card version of what serves now (the champion), which the candidate's version extends."""
    from deeptrust.card import load_card
    from deeptrust.registry import resolve_model

    try:
        return load_card(resolve_model(model)).version.split("+")[0]
    except Exception:  # no champion yet: a first version
        return "0.0.0"


def _suite(model: str, config_dir: Path) -> Path | None:
    """``<recipes>/gate/<model>.yaml`` when there is one, else the gate's default (configs/gate/<model>)."""
    path = Path(config_dir) / "gate" / f"{model}.yaml"
    return path if path.is_file() else None


def _gate_and_register(
    result: RetrainResult, candidate: Path, gate_dir: Path, *, jobs: JobStore, job_id: int, suite: Path | None
) -> None:
    from deeptrust.pipeline.register import gate_candidate, register_challenger

    outcome = gate_candidate(candidate, result.model, gate_dir, suite=suite)
    result.gate = outcome
    if not outcome["passed"]:
        result.reason = "the quality gate refused the candidate: " + "; ".join(outcome.get("failures") or [])
        return
    if not jobs.is_running(job_id):  # reaped meanwhile (its worker died): never register for a dead job
        raise RetrainError(f"job {job_id} is no longer running (interrupted); nothing was registered")
    tags = {"deeptrust.retrain.job": str(job_id), "deeptrust.feedback.dataset": result.feedback["dataset"],
            "deeptrust.feedback.hash": result.feedback["hash"]}  # fmt: skip
    result.version = register_challenger(candidate, result.model, outcome, tags=tags)
    result.outcome, result.alias = "registered", "challenger"
