"""Errors of the job queue; the service maps them to problems, the CLI to exit code 2."""

from __future__ import annotations


class JobError(RuntimeError):
    """A job that cannot be queued, started or finished; the message says why."""


class JobConflictError(JobError):
    """A job of the same kind for the same model is already queued or running."""

    def __init__(self, message: str, *, job_id: int) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobNotFoundError(JobError, LookupError):
    """No job has the given id."""
