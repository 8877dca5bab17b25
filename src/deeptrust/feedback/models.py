"""The one table of the feedback store: review items, each one image with what the model said about it.

An item is born ``pending`` either because a user flagged a result as wrong (``origin=flag``) or
because the service saw ``p_ai`` close to the threshold (``origin=borderline``); a moderator then
``approves`` it or ``relabels`` it, which fixes ``final_label``, the label used for retraining.
Images live on disk, content-addressed; rows hold their path relative to the store's image folder.
A second table, ``feedback_images``, registers each image file: a row exists while items use the file,
and writers and the purge lock that row, so processes agree on when a file may be deleted.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Enum,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LABEL_LENGTH = 64
_PENDING_BORDERLINE = text("origin = 'borderline' AND status = 'pending'")
PIXELS_COLUMN = "pixels_sha256"  # added after the first release: create_schema adds it to older tables


class Origin(enum.StrEnum):
    FLAG = "flag"  # a user said "wrong"
    BORDERLINE = "borderline"  # p_ai within the review band of the threshold


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RELABELLED = "relabelled"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"expected an aware datetime (UTC), got naive {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # VARCHAR plus a CHECK constraint rather than a native PostgreSQL enum: adding a value later
    # needs no ALTER TYPE, and both databases store the same lower-case strings.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class FeedbackItem(Base):
    __tablename__ = "feedback_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # -- the image (content-addressed: <image_dir>/<sha256[:2]>/<sha256>.<ext>) --
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # sha256 of the decoded RGB pixels (and size): the same picture with other trailing bytes or metadata
    # has a new sha256 but the same pixels_sha256. NULL on rows written before this column existed.
    pixels_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    image_path: Mapped[str] = mapped_column(String(255))  # relative to the store's image folder
    image_format: Mapped[str] = mapped_column(String(16))  # PIL's name: JPEG, PNG, WEBP, ...
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    image_bytes: Mapped[int] = mapped_column(Integer)
    # -- what the model said --
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "feedback_origin"))
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    predicted_label: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    p_ai: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    # -- what the user said (flags only) --
    corrected_label: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    who: Mapped[str | None] = mapped_column(String(200))  # subject of the caller's key or token
    comment: Mapped[str | None] = mapped_column(Text)
    # -- what the moderator decided --
    status: Mapped[Status] = mapped_column(
        _enum(Status, "feedback_status"), default=Status.PENDING, index=True
    )
    final_label: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # At most one pending borderline item per image and model version, enforced by the database
        # so that two replicas seeing the same upload at once cannot both queue it.
        Index(
            "uq_feedback_pending_borderline",
            "sha256",
            "model_version",
            unique=True,
            sqlite_where=_PENDING_BORDERLINE,
            postgresql_where=_PENDING_BORDERLINE,
        ),
        # The same for the decoded pixels, so trailing bytes do not make a new item.
        Index(
            "uq_feedback_pending_borderline_pixels",
            "pixels_sha256",
            "model_version",
            unique=True,
            sqlite_where=_PENDING_BORDERLINE,
            postgresql_where=_PENDING_BORDERLINE,
        ),
        Index("ix_feedback_items_who_created_at", "who", "created_at"),  # the per-caller cap counts these
        # Ids are never reused (SQLite's AUTOINCREMENT; PostgreSQL sequences never reuse), so a stale
        # /v1/review/{id} cannot act on an item created after a purge.
        {"sqlite_autoincrement": True},
    )

    def to_dict(self) -> dict[str, Any]:
        """Every column, JSON-ready: enums as strings, datetimes as ISO 8601 with ``+00:00``."""
        row: dict[str, Any] = {}
        for column in self.__table__.columns:
            value = getattr(self, column.key)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            row[column.key] = value
        return row

    def __repr__(self) -> str:
        return (
            f"FeedbackItem(id={self.id}, origin={self.origin}, status={self.status}, "
            f"sha256={self.sha256[:12]}…, predicted={self.predicted_label}, final={self.final_label})"
        )


class FeedbackImage(Base):
    """One image file of the store. Inserting an item first inserts (or locks) this row; the purge deletes
    a file only while holding the row's lock and finding no item that uses it, then deletes the row."""

    __tablename__ = "feedback_images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    image_path: Mapped[str] = mapped_column(String(255))  # relative to the store's image folder
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
