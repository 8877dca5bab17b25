"""The ``jobs`` table. Its own metadata, so that creating it never touches the feedback tables."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from deeptrust.feedback.models import UTCDateTime, utcnow

ACTIVE = ("queued", "running")
_ACTIVE_SQL = text("status IN ('queued', 'running')")
_RUNNING_SQL = text("status = 'running'")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # ran to the end and did what it was asked (e.g. registered a challenger)
    REJECTED = "rejected"  # ran to the end and refused (e.g. the quality gate failed): see its result
    FAILED = "failed"  # an error, or its worker died: see ``error``

    @property
    def done(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[JobStatus] = mapped_column(
        Enum(
            JobStatus,
            name="job_status",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=JobStatus.QUEUED,
        index=True,
    )
    trigger: Mapped[str] = mapped_column(String(32))  # manual, http, alertmanager, schedule, condition
    requested_by: Mapped[str | None] = mapped_column(String(200))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(200))  # "host:pid:token" of the process running it
    log_path: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # Two requests at once: the database keeps one; the second insert fails and names the first.
        Index(
            "uq_jobs_active",
            "kind",
            "model",
            unique=True,
            sqlite_where=_ACTIVE_SQL,
            postgresql_where=_ACTIVE_SQL,
        ),
        # One running job in the whole database, whatever the kind and model.
        Index(
            "uq_jobs_one_running",
            "status",
            unique=True,
            sqlite_where=_RUNNING_SQL,
            postgresql_where=_RUNNING_SQL,
        ),
        {"sqlite_autoincrement": True},
    )

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json or "{}")

    @property
    def result(self) -> dict[str, Any] | None:
        return None if self.result_json is None else json.loads(self.result_json)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``GET /v1/admin/jobs/{id}`` answers (without the log tail)."""
        stamp = lambda value: None if value is None else value.isoformat()  # noqa: E731
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "status": self.status.value,
            "trigger": self.trigger,
            "requested_by": self.requested_by,
            "params": self.params,
            "created_at": stamp(self.created_at),
            "started_at": stamp(self.started_at),
            "finished_at": stamp(self.finished_at),
            "heartbeat_at": stamp(self.heartbeat_at),
            "seconds": self.seconds,
            "error": self.error,
            "result": self.result,
        }
