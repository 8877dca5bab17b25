"""``POST /v1/admin/retrain`` (admin): queue a retrain for the service's one background worker.

The body is ``{"model": "cifake", "min_new_reviewed": 10}`` (both optional: the served model, 1), or an
Alertmanager webhook payload (``{"version": "4", "status": "firing", "alerts": [...]}``), whose firing
alerts name the model in a ``model`` label (else the served model). Answers 202 with the job and its
URL; 409 ``job-conflict`` when that model's retrain is already queued or running; 422
``no-new-feedback`` when too few corrections were reviewed since the last retrain (nothing is queued);
404 ``unknown-model`` when there is no recipe for the model.

``install(app, service)`` (called by ``create_app``) also starts the worker (``DEEPTRUST_JOBS_WORKER``)
that runs queued jobs as child processes, one at a time across every process sharing the database.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from deeptrust.feedback.store import FeedbackStore
from deeptrust.jobs import Job, JobConflictError, JobStore
from deeptrust.jobs.routes import router as jobs_router
from deeptrust.jobs.worker import JobWorker, python_command
from deeptrust.registry import MODEL_NAME
from deeptrust.retrain.errors import NoNewFeedbackError, RetrainError
from deeptrust.retrain.recipe import recipe_path
from deeptrust.retrain.watermark import KIND, check_new_feedback
from deeptrust.serve.auth import Principal
from deeptrust.serve.deps import Admin, ServiceDep
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES
from deeptrust.serve.service import Service

log = logging.getLogger("deeptrust.retrain")
router = APIRouter(prefix="/v1/admin", tags=["jobs"])


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=200, description="registered model name; default: served")
    min_new_reviewed: int = Field(1, ge=1, le=1_000_000, description="corrections needed since the last")


class Alert(BaseModel):
    status: str = "firing"
    labels: dict[str, str] = Field(default_factory=dict)


class AlertmanagerPayload(BaseModel):
    """What Alertmanager's webhook receiver posts (version 4); fields not used here are ignored."""

    version: str
    status: Literal["firing", "resolved"]
    alerts: list[Alert] = Field(max_length=1000)
    commonLabels: dict[str, str] = Field(default_factory=dict)  # Alertmanager spells it so


def command_for(job: Job, result_path: Path) -> list[str]:
    params = job.params
    argv = ["retrain", job.model, "--job-id", str(job.id), "--result-file", str(result_path)]
    argv += ["--min-new-reviewed", str(params.get("min_new_reviewed") or 1)]
    if params.get("config"):
        argv += ["--config", str(params["config"])]
    return python_command(*argv)


def install(app: FastAPI, service: Service) -> None:
    settings = service.settings
    jobs = JobStore.from_settings(settings)
    jobs.create_schema()
    service.extras["jobs"] = jobs
    if settings.jobs_worker:
        worker = JobWorker(
            jobs,
            command_for,
            poll_s=settings.jobs_poll_s,
            heartbeat_s=settings.jobs_heartbeat_s,
            stale_after_s=settings.jobs_stale_s,
        )
        service.on_start.append(worker.start)  # with the service (its lifespan), not at import of the app
        service.extras["jobs_worker"] = worker
        service.on_stop.append(worker.close)
    service.on_stop.append(jobs.close)
    app.include_router(router)
    app.include_router(jobs_router)


def _feedback_store(service: Service) -> FeedbackStore:
    store = service.extras.get("feedback_store")
    if store is None:  # the page is not installed: open the store the same way it would
        store = FeedbackStore.from_settings(service.settings)
        store.create_schema()
        service.extras["feedback_store"] = store
        service.on_stop.append(store.close)
    return store


def _queue(service: Service, model: str, min_new: int, trigger: str, who: Principal) -> Job:
    """Check and queue one retrain; raises the problem that says why not."""
    if not MODEL_NAME.fullmatch(model):
        raise Problem(422, f"{model!r} is not a model name (letters, digits, . _ -)", type_="bad-model-name")
    jobs: JobStore = service.extras["jobs"]
    try:
        recipe_path(model, service.settings.retrain_config_dir)
        new = check_new_feedback(_feedback_store(service), jobs, model, min_new)
        job = jobs.submit(KIND, model, params={"min_new_reviewed": min_new}, trigger=trigger,
                          requested_by=who.subject)  # fmt: skip
    except NoNewFeedbackError as exc:
        raise Problem(422, str(exc), type_="no-new-feedback", new=exc.new, needed=exc.needed) from exc
    except RetrainError as exc:
        raise Problem(404, str(exc), type_="unknown-model") from exc
    except JobConflictError as exc:
        raise Problem(409, str(exc), type_="job-conflict", job_id=exc.job_id) from exc
    log.info("retrain job %s queued for %s (%d new corrections, by %s)", job.id, model, new, who.subject)
    worker = service.extras.get("jobs_worker")
    if worker is not None:
        worker.wake()
    return job


def _accepted(job: Job) -> dict[str, Any]:
    return job.to_dict() | {"url": f"/v1/admin/jobs/{job.id}"}


@router.post("/retrain", status_code=202, responses=PROBLEM_RESPONSES)
async def retrain(
    service: ServiceDep, admin: Admin, body: RetrainRequest | AlertmanagerPayload | None = None
) -> JSONResponse:
    served = service.holder.current.card.name
    if not isinstance(body, AlertmanagerPayload):
        body = body or RetrainRequest()
        job = await run_in_threadpool(
            _queue, service, body.model or served, body.min_new_reviewed, "http", admin
        )
        return JSONResponse(_accepted(job), status_code=202, headers={"Location": f"/v1/admin/jobs/{job.id}"})
    models = sorted({a.labels.get("model") or body.commonLabels.get("model") or served
                     for a in body.alerts if a.status == "firing"})  # fmt: skip
    queued, skipped = [], []
    for model in models:  # Alertmanager repeats itself: a model already queued is skipped, not an error
        try:
            queued.append(
                _accepted(await run_in_threadpool(_queue, service, model, 1, "alertmanager", admin))
            )
        except Problem as problem:
            skipped.append({"model": model, "reason": problem.type, "detail": problem.detail} | problem.extra)
    return JSONResponse({"jobs": queued, "skipped": skipped}, status_code=202)
