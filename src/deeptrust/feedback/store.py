"""The feedback store: review items in SQLite or PostgreSQL, their images on disk.

Usage::

    store = FeedbackStore.from_settings()  # DEEPTRUST_DATABASE_URL, images under <home>/feedback/images
    store.create_schema()
    item = store.add_feedback(data, predicted_label="FAKE", corrected_label="REAL", p_ai=0.81,
                              model_version="1.0", threshold=0.5, who="alice")
    store.review(item.id, "approve", reviewer="mod")
    store.export_imagefolder("fb-out")  # then: deeptrust data import fb-out --name fb

One engine per store and one session per call, so a store is shared by all threads of the service.
Items come back detached (plain attribute access, no lazy loading). Every image is decoded under the
pixel cap before it is stored. Non-goals: general schema migrations (``create_schema`` creates what is
missing and brings the previous version's table up to date, nothing more) and access control (the
service checks roles).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import CursorResult, Select, case, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deeptrust.feedback import _checks, _files, _schema
from deeptrust.feedback._db import create_store_engine
from deeptrust.feedback._export import ExportResult, latest_decisions, write_folder, write_tar_gz
from deeptrust.feedback._images import ImageFacts, ImageFiles, read_facts
from deeptrust.feedback.errors import FeedbackError, FeedbackLimitError, ItemNotFoundError, ReviewError
from deeptrust.feedback.models import FeedbackItem, Origin, Status, utcnow
from deeptrust.settings import Settings, get_settings

REVIEWED = (Status.APPROVED.value, Status.RELABELLED.value)
MAX_NAME = 200
_Query = TypeVar("_Query", bound=Select[Any])


class PurgeResult(NamedTuple):
    items: int  # rows deleted
    images: int  # image files deleted (those no remaining row references)


def is_borderline(p_ai: float, threshold: float, band: float) -> bool:
    """Whether a prediction goes to the review queue: ``|p_ai - threshold| < band`` (settings.review_band)."""
    return abs(p_ai - threshold) < band


class FeedbackStore:
    def __init__(
        self,
        url: str,
        image_dir: str | Path,
        *,
        max_pixels: int = 50_000_000,
        max_per_caller_per_day: int = 0,
    ) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.images = ImageFiles(image_dir)
        self.max_pixels = max_pixels  # images over it are refused, as the service refuses them
        self.max_per_caller_per_day = max_per_caller_per_day  # items per ``who`` in 24 h; 0: no cap
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FeedbackStore:
        settings = settings or get_settings()
        return cls(
            settings.resolved_database_url,
            settings.feedback_dir / "images",
            max_pixels=settings.max_image_pixels,
            max_per_caller_per_day=settings.feedback_max_per_caller_per_day,
        )

    def create_schema(self) -> None:
        """Create the tables and indices where missing and migrate older ones (see ``_schema``)."""
        _schema.create_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A write transaction; on SQLite it holds the database's write lock from its start."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session

    @contextmanager
    def _reader(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # -- adding items --

    def add_feedback(
        self,
        image: bytes | Path,
        *,
        predicted_label: str,
        corrected_label: str,
        p_ai: float,
        model_version: str,
        model_name: str | None = None,
        threshold: float | None = None,
        who: str | None = None,
        comment: str | None = None,
        class_names: Sequence[str] | None = None,
        facts: ImageFacts | None = None,
    ) -> FeedbackItem:
        """Queue an image a user flagged as wrongly classified. ``class_names`` checks both labels.

        A caller who flags the same picture (same decoded pixels) with the same label again while the
        first flag is pending gets that item back. ``facts``: what :meth:`check_image` returned for
        these bytes, when the caller decoded them already (the service does, on its decode threads).
        """
        corrected = _checks.check_label(corrected_label, "corrected_label", class_names)
        predicted = _checks.check_label(predicted_label, "predicted_label", class_names)
        if corrected == predicted:
            raise FeedbackError(
                f"corrected_label equals predicted_label ({predicted!r}); a flag needs the label the "
                "model should have given"
            )
        item = FeedbackItem(
            origin=Origin.FLAG,
            predicted_label=predicted,
            corrected_label=corrected,
            p_ai=_checks.check_probability(p_ai, "p_ai"),
            threshold=None if threshold is None else _checks.check_probability(threshold, "threshold"),
            model_name=_checks.check_text(model_name, "model_name", MAX_NAME),
            model_version=_checks.check_required(model_version, "model_version", 100),
            who=_checks.check_text(who, "who", MAX_NAME),
            comment=_checks.check_text(comment, "comment", _checks.MAX_COMMENT),
        )
        data = _read_image(image)
        if facts is None or facts.sha256 != hashlib.sha256(data).hexdigest():
            facts = self.check_image(data)
        same = None
        if item.who is not None:
            same = (
                FeedbackItem.origin == Origin.FLAG,
                FeedbackItem.who == item.who,
                FeedbackItem.corrected_label == corrected,
            )
        return self._insert(item, data, facts, same)

    def check_image(self, data: bytes) -> ImageFacts:
        """Decode ``data`` fully under the store's pixel cap: its facts, or :class:`FeedbackImageError`."""
        return read_facts(data, max_pixels=self.max_pixels)

    def add_borderline(
        self,
        image: bytes | Path,
        *,
        predicted_label: str,
        p_ai: float,
        threshold: float,
        model_name: str,
        model_version: str,
        who: str | None = None,
    ) -> FeedbackItem:
        """Queue an image whose ``p_ai`` was close to the threshold, unless it is queued already.

        Returns the new item, or the pending borderline item of the same picture (same decoded pixels,
        whatever bytes carried them) and model version. ``who`` is the caller whose prediction it was.
        """
        data = _read_image(image)
        item = FeedbackItem(
            origin=Origin.BORDERLINE,
            predicted_label=_checks.check_label(predicted_label, "predicted_label"),
            p_ai=_checks.check_probability(p_ai, "p_ai"),
            threshold=_checks.check_probability(threshold, "threshold"),
            model_name=_checks.check_required(model_name, "model_name", MAX_NAME),
            model_version=_checks.check_required(model_version, "model_version", 100),
            who=_checks.check_text(who, "who", MAX_NAME),
        )
        facts = self.check_image(data)
        same = (FeedbackItem.origin == Origin.BORDERLINE, FeedbackItem.model_version == item.model_version)
        try:
            return self._insert(item, data, facts, same)
        except IntegrityError:  # another thread or replica queued the same picture just now
            existing = self._pending(facts, same)
            if existing is None:
                raise
            return existing

    def _pending(
        self, facts: ImageFacts, same: tuple[Any, ...], session: Session | None = None
    ) -> FeedbackItem | None:
        query = select(FeedbackItem).where(
            FeedbackItem.status == Status.PENDING,
            or_(FeedbackItem.pixels_sha256 == facts.pixels_sha256, FeedbackItem.sha256 == facts.sha256),
            *same,
        )
        if session is not None:
            return session.scalars(query.order_by(FeedbackItem.id)).first()
        with self._reader() as reader:
            return reader.scalars(query.order_by(FeedbackItem.id)).first()

    def _check_caller_cap(self, session: Session, who: str | None) -> None:
        cap = self.max_per_caller_per_day
        if not cap or who is None:
            return
        since = utcnow() - timedelta(days=1)
        query = select(func.count()).where(FeedbackItem.who == who, FeedbackItem.created_at >= since)
        if int(session.scalar(query) or 0) >= cap:
            raise FeedbackLimitError(
                f"{who} has sent {cap:,} review items in the last 24 hours, the most one caller may "
                "(DEEPTRUST_FEEDBACK_MAX_PER_CALLER_PER_DAY); try again later"
            )

    def _insert(
        self, item: FeedbackItem, data: bytes, facts: ImageFacts, same: tuple[Any, ...] | None
    ) -> FeedbackItem:
        """Insert ``item`` and its image file in one transaction (see ``_files`` for the protocol).

        Returns the pending item ``same`` matches for this picture instead, when there is one.
        """
        item.sha256, item.pixels_sha256, item.image_path = facts.sha256, facts.pixels_sha256, facts.relpath
        item.image_format, item.width, item.height = facts.format, facts.width, facts.height
        item.image_bytes, item.created_at, item.status = facts.bytes, utcnow(), Status.PENDING
        with self._transaction() as session:
            _lock_caller(session, item.who)
            existing = None if same is None else self._pending(facts, same, session)
            if existing is not None:
                return existing
            self._check_caller_cap(session, item.who)
            created = _files.claim(session, facts)
            session.add(item)
            session.flush()  # a refused row (unique index) fails here, before any file is written
            try:
                self.images.write(facts, data)
            except BaseException:
                if created:  # no other row uses the file and, holding its row, no one else can start to
                    self.images.delete(facts.relpath)
                raise
        return item

    # -- reading --

    def get(self, item_id: int) -> FeedbackItem:
        with self._sessions() as session:
            item = session.get(FeedbackItem, item_id)
        if item is None:
            raise ItemNotFoundError(f"no review item with id {item_id}")
        return item

    def image_file(self, item: FeedbackItem) -> Path:
        """Where the item's image is; it may be gone if the retention purge ran in between."""
        return self.images.path(item.image_path)

    def list_review(
        self,
        status: str | None = "pending",
        origin: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FeedbackItem]:
        """Items with ``status`` (None: any), flags first (oldest first), then borderline items by
        closeness of ``p_ai`` to the threshold."""
        if limit < 1 or offset < 0:
            raise FeedbackError(f"expected limit >= 1 and offset >= 0, got limit={limit}, offset={offset}")
        closeness = case(
            (FeedbackItem.origin == Origin.FLAG, -1.0),
            else_=func.abs(FeedbackItem.p_ai - func.coalesce(FeedbackItem.threshold, FeedbackItem.p_ai)),
        )
        query = self._filtered(select(FeedbackItem), status, origin)
        query = (
            query.order_by(closeness, FeedbackItem.created_at, FeedbackItem.id).limit(limit).offset(offset)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, status: str | None = "pending", origin: str | None = None) -> int:
        query = self._filtered(select(func.count()).select_from(FeedbackItem), status, origin)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    @staticmethod
    def _filtered(query: _Query, status: str | None, origin: str | None) -> _Query:
        if status is not None:
            query = query.where(FeedbackItem.status == _checks.check_enum(Status, status, "status"))
        if origin is not None:
            query = query.where(FeedbackItem.origin == _checks.check_enum(Origin, origin, "origin"))
        return query

    # -- reviewing --

    def review(
        self,
        item_id: int,
        action: Literal["approve", "relabel"],
        *,
        label: str | None = None,
        reviewer: str,
        class_names: Sequence[str] | None = None,
    ) -> FeedbackItem:
        """Decide an item's final label. ``approve`` keeps the user's label (or, for a borderline
        item, the model's); ``relabel`` sets ``label``. A later review replaces an earlier one."""
        reviewer = _checks.check_required(reviewer, "reviewer", MAX_NAME)
        if action == "relabel":
            label = _checks.check_label(label, "relabel label", class_names, error=ReviewError)
        elif action == "approve":
            if label is not None:
                raise ReviewError(f"approve takes no label (got {label!r}); use action 'relabel' to set one")
        else:
            raise ReviewError(f"review action must be 'approve' or 'relabel', got {action!r}")
        with self._transaction() as session:
            item = session.get(FeedbackItem, item_id, with_for_update=True)
            if item is None:
                raise ItemNotFoundError(f"no review item with id {item_id}")
            if action == "approve":
                item.final_label, item.status = item.corrected_label or item.predicted_label, Status.APPROVED
            else:
                item.final_label, item.status = label, Status.RELABELLED
            item.reviewed_by, item.reviewed_at = reviewer, utcnow()
        return item

    # -- export and retention --

    def export_imagefolder(self, out_dir: str | Path, *, statuses: Iterable[str] = REVIEWED) -> ExportResult:
        """Copy reviewed images to ``out_dir/<final_label>/<sha256>.<ext>`` (``out_dir`` new or empty)."""
        items, conflicts = latest_decisions(self._reviewed(statuses))
        return write_folder(items, self.images, Path(out_dir), conflicts)

    def export_tar_gz(
        self, target: str | Path | BinaryIO, *, statuses: Iterable[str] = REVIEWED
    ) -> ExportResult:
        """The same ImageFolder as :meth:`export_imagefolder`, as a .tar.gz file or into an open file."""
        items, conflicts = latest_decisions(self._reviewed(statuses))
        return write_tar_gz(items, self.images, target, conflicts)

    def _reviewed(self, statuses: Iterable[str]) -> list[FeedbackItem]:
        wanted = _checks.check_enums(Status, statuses, "export status")
        if Status.PENDING in wanted:
            raise FeedbackError("pending items have no final label yet; export approved or relabelled ones")
        query = (
            select(FeedbackItem)
            .where(FeedbackItem.status.in_(wanted), FeedbackItem.final_label.is_not(None))
            .order_by(FeedbackItem.reviewed_at, FeedbackItem.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def purge(self, older_than_days: int, *, now: datetime | None = None) -> PurgeResult:
        """Delete items created more than ``older_than_days`` ago, then each image file no item uses.

        ``0`` keeps every item (as ``DEEPTRUST_FEEDBACK_RETENTION_DAYS=0`` does) and still removes files no
        item uses (left by a crash). Safe to run from any process while others add items: a file is
        deleted only under its row's database lock, after finding that no item uses it.
        """
        if older_than_days < 0:
            raise FeedbackError(f"older_than_days must be >= 0 (0 keeps everything), got {older_than_days}")
        deleted = 0
        if older_than_days > 0:
            old = FeedbackItem.created_at < (now or utcnow()) - timedelta(days=older_than_days)
            with self._transaction() as session:
                deleted = cast(CursorResult[Any], session.execute(delete(FeedbackItem).where(old))).rowcount
        removed = _files.collect_unused(self._transaction, self._reader, self.images)
        return PurgeResult(deleted, removed)


def _lock_caller(session: Session, who: str | None) -> None:
    """Serialise one caller's inserts, so that the cap and the duplicate check see each other's rows.

    SQLite's write lock already serialises every insert; PostgreSQL takes a lock on the caller's name
    until the transaction ends.
    """
    if who is not None and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:who, 0))"), {"who": who})


def _read_image(image: bytes | Path) -> bytes:
    return Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
