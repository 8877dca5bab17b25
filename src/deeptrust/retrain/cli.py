"""``deeptrust retrain MODEL``: retrain from reviewed corrections, now or queued for the service.

    deeptrust retrain cifake                           # now; exit 0 registered, 3 rejected by the gate
    deeptrust retrain cifake --min-new-reviewed 50     # the condition trigger: skip (exit 0) below 50
    deeptrust retrain cifake --queue                   # for the running service's worker
    # cron (the schedule trigger), every night at 03:00:
    # 0 3 * * *  cd /srv/deeptrust && .venv/bin/deeptrust retrain photos --min-new-reviewed 50 --schedule

Each run is a row in the jobs table (the feedback store's database), so a terminal, cron and the service
never retrain the same model twice at once, and one job runs at a time.
"""

from __future__ import annotations

import json
import threading
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

EXIT_USAGE, EXIT_REJECTED = 2, 3


def _say(message: str, *, err: bool = False, style: str = "") -> None:
    text = f"[{style}]{escape(message)}[/{style}]" if style else escape(message)
    Console(stderr=err).print(text, highlight=False, soft_wrap=True)


def retrain_command(
    model: Annotated[str, typer.Argument(help="Registered model name (its feedback carries this name).")],
    min_new_reviewed: Annotated[
        int | None,
        typer.Option(
            min=1, help="Retrain only when at least N corrections were reviewed since the last one."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Training recipe (default: DEEPTRUST_RETRAIN_CONFIG_DIR/MODEL.yaml).")
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue it for the service's worker.")] = False,
    schedule: Annotated[bool, typer.Option("--schedule", help="Record the trigger as the schedule.")] = False,
    job_id: Annotated[
        int | None, typer.Option(hidden=True, help="Run as this claimed job (the worker).")
    ] = None,
    result_file: Annotated[
        Path | None, typer.Option(hidden=True, help="Where the worker reads the result.")
    ] = None,
) -> None:
    """Retrain MODEL on its base data plus reviewed corrections; a challenger if the gate passes."""
    from deeptrust.jobs import JobError, JobStore
    from deeptrust.retrain.errors import NoNewFeedbackError, RetrainError

    trigger = "schedule" if schedule else "condition" if min_new_reviewed else "manual"
    params = {"min_new_reviewed": min_new_reviewed or 1, "config": str(config) if config else None}
    try:
        if job_id is not None:  # the service's worker claimed it; this process only runs it
            code = _run(model, job_id, params, result_file, jobs=None)
            raise typer.Exit(code)
        with JobStore.from_settings() as jobs:
            jobs.create_schema()
            _precheck(model, params["min_new_reviewed"], config, jobs)  # no job row when it cannot run
            if queue:
                job = jobs.submit("retrain", model, params=params, trigger=trigger, requested_by="cli")
                _say(f"queued retrain job {job.id} for {model}: deeptrust jobs show {job.id}")
                return
            job = jobs.start_inline("retrain", model, params=params, trigger=trigger, requested_by="cli")
            _say(f"retrain job {job.id} for {model} started")
            code = _run(model, job.id, params, result_file, jobs=jobs)
    except NoNewFeedbackError as exc:
        # The condition trigger not being met is not an error for cron; a manual retrain with nothing new is.
        _say(str(exc), err=True, style="yellow" if min_new_reviewed else "bold red")
        raise typer.Exit(0 if min_new_reviewed and job_id is None else EXIT_USAGE) from None
    except (JobError, RetrainError) as exc:
        _say(f"error: {exc}", err=True, style="bold red")
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(code)


def _precheck(model: str, min_new: int, config: Path | None, jobs) -> None:  # type: ignore[no-untyped-def]
    """What would make the retrain fail at once (no recipe, the condition not met), before any job row."""
    from deeptrust.feedback.store import FeedbackStore
    from deeptrust.retrain.recipe import recipe_path
    from deeptrust.retrain.watermark import check_new_feedback
    from deeptrust.settings import get_settings

    recipe_path(model, get_settings().retrain_config_dir, config)
    with FeedbackStore.from_settings() as store:
        store.create_schema()
        check_new_feedback(store, jobs, model, min_new)


def _run(model: str, job_id: int, params: dict, result_file: Path | None, *, jobs) -> int:  # type: ignore[no-untyped-def]
    """Run the retrain; record it (inline: on the job row; as the worker's child: in ``result_file``)."""
    from deeptrust.jobs import JobStatus
    from deeptrust.jobs.store import worker_id
    from deeptrust.retrain.errors import NoNewFeedbackError, RetrainError
    from deeptrust.retrain.run import retrain

    stop = threading.Event()
    if jobs is not None:
        threading.Thread(target=_heartbeat, args=(jobs, job_id, stop), daemon=True).start()
    outcome: dict | None = None
    try:
        config = Path(params["config"]) if params.get("config") else None
        result = retrain(model, job_id=job_id, min_new_reviewed=params["min_new_reviewed"], config=config)
        outcome = result.to_dict()
        status = JobStatus.SUCCEEDED if result.outcome == "registered" else JobStatus.REJECTED
    except BaseException as exc:
        outcome = {"model": model, "outcome": "failed", "error": str(exc) or type(exc).__name__}
        if isinstance(exc, NoNewFeedbackError):
            outcome |= {"new": exc.new, "needed": exc.needed}
        status = JobStatus.FAILED
        _finish(jobs, job_id, worker_id(), status, outcome, result_file, stop)
        if not isinstance(exc, Exception) or isinstance(exc, RetrainError):
            raise
        traceback.print_exc()  # into the job's log, for whoever debugs it; the caller gets the message
        raise RetrainError(f"{type(exc).__name__}: {exc}; nothing was registered") from exc
    _finish(jobs, job_id, worker_id(), status, outcome, result_file, stop)
    _report(outcome)
    return 0 if status is JobStatus.SUCCEEDED else EXIT_REJECTED


def _finish(jobs, job_id, worker, status, outcome, result_file, stop) -> None:  # type: ignore[no-untyped-def]
    stop.set()
    if result_file is not None:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(json.dumps(outcome, indent=2, default=str) + "\n")
    if jobs is not None:
        error = outcome.get("error") or outcome.get("reason")
        jobs.finish(job_id, worker, status, error=error, result=outcome)


def _heartbeat(jobs, job_id: int, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    from deeptrust.jobs.store import worker_id
    from deeptrust.settings import get_settings

    while not stop.wait(get_settings().jobs_heartbeat_s):
        try:
            jobs.heartbeat(job_id, worker_id())
        except Exception:  # the next beat tries again; the stale window is long
            continue


def _report(outcome: dict) -> None:
    gate = outcome.get("gate") or {}
    if outcome["outcome"] == "registered":
        _say(f"registered {outcome['model']} version {outcome['version']} as {outcome['alias']} "
             f"(gate passed: {gate.get('report')})", style="green")  # fmt: skip
        _say(f"promote it with: deeptrust models promote {outcome['model']} {outcome['version']}")
    else:
        _say(f"rejected: {outcome.get('reason')}; report: {gate.get('report')}", style="yellow")
