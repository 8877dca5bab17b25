"""Background jobs kept in the database: a queue that one worker at a time drains, across processes.

A job (today only ``retrain``) is a row in ``jobs``, in the same database as the feedback store
(``DEEPTRUST_DATABASE_URL``: SQLite by default, PostgreSQL in production). The row is the truth: a job
is queued, running, then succeeded, rejected (it ran, and its result says no) or failed. What makes the
queue safe:

- at most one active (queued or running) job per kind and model, enforced by a unique index, so two
  requests at once get one job and a :class:`JobConflictError` naming it;
- at most one running job in the whole database: a worker claims the oldest queued job only while none
  runs, under the database's write lock (SQLite) or an advisory lock (PostgreSQL);
- a running job carries its worker's host and pid and a heartbeat; a job whose worker died (a restart,
  a crash, ``kill -9``) is marked failed by the next worker that looks, never run a second time;
- a queued job survives restarts and runs when a worker is back.

Non-goals: priorities, retries (a failed job stays failed; ask again), and distributing work over
machines beyond "one at a time".
"""

from deeptrust.jobs.errors import JobConflictError, JobError, JobNotFoundError
from deeptrust.jobs.models import Job, JobStatus
from deeptrust.jobs.store import JobStore

__all__ = ["Job", "JobConflictError", "JobError", "JobNotFoundError", "JobStatus", "JobStore"]
