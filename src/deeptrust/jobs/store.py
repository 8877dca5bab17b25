"""The job queue's operations on the database: submit, claim, heartbeat, finish, reap, read.

Usage::

    jobs = JobStore.from_settings()           # DEEPTRUST_DATABASE_URL, logs under <home>/jobs
    jobs.create_schema()
    job = jobs.submit("retrain", "photos", params={"min_new_reviewed": 10}, trigger="http")
    claimed = jobs.claim_next(worker_id())     # the worker: the oldest queued job, if none runs
    jobs.finish(claimed.id, worker_id(), JobStatus.SUCCEEDED, result={...})

Every state change is one short transaction that checks the state it expects, so a reaped job cannot
be finished by its late worker, and a job is claimed once.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deeptrust.feedback._db import create_store_engine
from deeptrust.feedback.models import utcnow
from deeptrust.jobs.errors import JobConflictError, JobError, JobNotFoundError
from deeptrust.jobs.models import ACTIVE, Base, Job, JobStatus
from deeptrust.settings import Settings, get_settings

_CLAIM_LOCK = 0x6465657074727573  # "deeptrus": the PostgreSQL advisory lock that serialises claims
_TOKEN = uuid.uuid4().hex[:8]  # tells this process from an earlier one that had the same pid


def worker_id() -> str:
    """This process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


def _worker_gone(worker: str | None) -> bool:
    """True when ``worker`` ran on this host and its process is gone or is another one (pid reused)."""
    if not worker:
        return True
    host, _, rest = worker.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's worker: only its heartbeat can tell
    pid = int(pid_text)
    if pid == os.getpid():
        return token != _TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobStore:
    def __init__(self, url: str, log_dir: str | Path) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.log_dir = Path(log_dir)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> JobStore:
        settings = settings or get_settings()
        return cls(settings.resolved_database_url, settings.home / "jobs")

    def create_schema(self) -> None:
        """Create ``jobs`` where missing; processes starting together may race on PostgreSQL: retry."""
        for attempt in range(3):
            try:
                with self.engine.connect() as connection:
                    connection = connection.execution_options(sqlite_begin="IMMEDIATE")
                    with connection.begin():
                        Base.metadata.create_all(connection)
                return
            except Exception:
                if attempt == 2:
                    raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
            yield session

    # -- creating jobs --

    def submit(
        self,
        kind: str,
        model: str,
        *,
        params: dict[str, Any] | None = None,
        trigger: str = "manual",
        requested_by: str | None = None,
    ) -> Job:
        """Queue a job; :class:`JobConflictError` if one of this kind and model is queued or running."""
        return self._insert(kind, model, params, trigger, requested_by, status=JobStatus.QUEUED)

    def start_inline(
        self,
        kind: str,
        model: str,
        *,
        params: dict[str, Any] | None = None,
        trigger: str = "manual",
        requested_by: str | None = None,
    ) -> Job:
        """A job this process runs now (``deeptrust retrain`` in a terminal or from cron): inserted as
        running, so that the service's worker and other terminals see it and wait their turn."""
        return self._insert(kind, model, params, trigger, requested_by, status=JobStatus.RUNNING)

    def _insert(
        self,
        kind: str,
        model: str,
        params: dict[str, Any] | None,
        trigger: str,
        requested_by: str | None,
        *,
        status: JobStatus,
    ) -> Job:
        now = utcnow()
        job = Job(
            kind=kind,
            model=model,
            status=status,
            trigger=trigger,
            requested_by=requested_by,
            params_json=json.dumps(params or {}, sort_keys=True),
            created_at=now,
        )
        if status is JobStatus.RUNNING:
            job.started_at, job.heartbeat_at, job.worker = now, now, worker_id()
        try:
            with self._transaction() as session:
                self._reap(session, stale_after_s=None)
                self._check_free(session, kind, model, running=status is JobStatus.RUNNING)
                session.add(job)
                session.flush()
                job.log_path = str(self.log_dir / f"job-{job.id}.log")
        except IntegrityError as exc:  # a concurrent insert won the unique index
            raise self._conflict(kind, model) from exc
        return job

    def _check_free(self, session: Session, kind: str, model: str, *, running: bool) -> None:
        active = session.scalars(
            select(Job).where(Job.kind == kind, Job.model == model, Job.status.in_(ACTIVE))
        ).first()
        if active is not None:
            raise JobConflictError(
                f"a {kind} job for {model!r} is already {active.status.value} (job {active.id}); "
                f"follow it at /v1/admin/jobs/{active.id} instead of starting another",
                job_id=active.id,
            )
        if running:
            other = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).first()
            if other is not None:
                raise JobConflictError(
                    f"job {other.id} ({other.kind} {other.model!r}) is running, and one job runs at a "
                    "time; try again when it has finished",
                    job_id=other.id,
                )

    def _conflict(self, kind: str, model: str) -> JobError:
        with self._sessions() as session:
            active = session.scalars(
                select(Job).where(Job.status.in_(ACTIVE)).order_by(Job.kind != kind, Job.model != model)
            ).first()
        if active is None:
            return JobError(f"the {kind} job for {model!r} could not be queued (a concurrent change); retry")
        return JobConflictError(
            f"a {active.kind} job for {active.model!r} is already {active.status.value} (job {active.id})",
            job_id=active.id,
        )

    # -- the worker's side --

    def claim_next(self, worker: str, *, stale_after_s: float = 60.0) -> Job | None:
        """The oldest queued job, now running for ``worker``; None when one runs already or none waits.

        Reaps first: a running job whose worker is gone is marked failed, never resumed. An idle queue
        costs one read, without the write lock (every server process polls it).
        """
        if not self.count_active():
            return None
        try:
            with self._transaction() as session:
                self._reap(session, stale_after_s=stale_after_s)
                if session.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING)).first():
                    return None
                job = session.scalars(
                    select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id).limit(1)
                ).first()
                if job is None:
                    return None
                now = utcnow()
                job.status, job.worker, job.started_at, job.heartbeat_at = JobStatus.RUNNING, worker, now, now
            return job
        except IntegrityError:  # another process claimed one in between (only without the locks)
            return None

    def heartbeat(self, job_id: int, worker: str) -> bool:
        """Record that ``worker`` still runs the job; False when the job is no longer its own."""
        with self._transaction() as session:
            changed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING)
                .values(heartbeat_at=utcnow())
            ).rowcount
        return bool(changed)

    def is_running(self, job_id: int) -> bool:
        return self.get(job_id).status is JobStatus.RUNNING

    def finish(
        self,
        job_id: int,
        worker: str | None,
        status: JobStatus,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Close a running job; False (and nothing changed) when it is not running for ``worker``."""
        if not status.done:
            raise JobError(f"finish needs a final status, got {status.value}")
        with self._transaction() as session:
            job = session.get(Job, job_id)
            if job is None or job.status is not JobStatus.RUNNING:
                return False
            if worker is not None and job.worker != worker:
                return False
            now = utcnow()
            job.status, job.finished_at, job.error = status, now, error
            job.result_json = None if result is None else json.dumps(result, sort_keys=True, default=str)
            job.seconds = (now - job.started_at).total_seconds() if job.started_at else None
        return True

    def reap(self, *, stale_after_s: float | None = 60.0) -> list[int]:
        """Mark failed every running job whose worker is gone; returns their ids."""
        with self._transaction() as session:
            return self._reap(session, stale_after_s=stale_after_s)

    def _reap(self, session: Session, *, stale_after_s: float | None) -> list[int]:
        now = utcnow()
        reaped = []
        for job in session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)):
            stale = (
                stale_after_s is not None
                and job.heartbeat_at is not None
                and now - job.heartbeat_at > timedelta(seconds=stale_after_s)
            )
            if not (stale or _worker_gone(job.worker)):
                continue
            why = "its heartbeat stopped" if stale else "its process is gone"
            job.status, job.finished_at = JobStatus.FAILED, now
            job.error = (
                f"interrupted: the worker {job.worker} stopped while the job ran ({why}: a restart or a "
                "crash); it is not resumed or run again: submit a new job"
            )
            reaped.append(job.id)
        return reaped

    # -- reading --

    def get(self, job_id: int) -> Job:
        with self._sessions() as session:
            job = session.get(Job, job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        return job

    def list_jobs(self, *, kind: str | None = None, model: str | None = None, limit: int = 50) -> list[Job]:
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if model is not None:
            query = query.where(Job.model == model)
        with self._sessions() as session:
            return list(session.scalars(query))

    def last_finished(self, kind: str, model: str, statuses: tuple[JobStatus, ...]) -> Job | None:
        query = (
            select(Job)
            .where(Job.kind == kind, Job.model == model, Job.status.in_(statuses))
            .order_by(Job.id.desc())
            .limit(1)
        )
        with self._sessions() as session:
            return session.scalars(query).first()

    def count_active(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).where(Job.status.in_(ACTIVE))) or 0)

    def log_tail(self, job: Job, max_bytes: int = 8192) -> str:
        """The last ``max_bytes`` of the job's log (whole lines), or "" before it has one."""
        if not job.log_path:
            return ""
        path = Path(job.log_path)
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - max_bytes))
                data = handle.read()
        except OSError:
            return ""
        if len(data) == max_bytes and b"\n" in data:
            data = data.split(b"\n", 1)[1]
        return data.decode("utf-8", errors="replace")


def stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
