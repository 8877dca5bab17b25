"""The feedback store: review items in SQLite or PostgreSQL, their images on disk.

Usage::

    store = FeedbackStore.from_settings()  # DEEPTRUST_DATABASE_URL, images under <home>/feedback/images
    store.create_schema()
    item = store.add_feedback(data, predicted_label="FAKE", corrected_label="REAL", p_ai=0.81,
                              model_version="1.0", threshold=0.5, who="alice")
    store.review(item.id, "approve", reviewer="mod")
    store.export_imagefolder("fb-out")  # then: deeptrust data import fb-out --name fb

One engine per store and one session per call, so a store is shared by all threads of the service.
Items come back detached (plain attribute access, no lazy loading). Non-goals: schema migrations
(``create_schema`` only creates what is missing) and access control (the service checks roles).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import CursorResult, Select, case, delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deeptrust.feedback import _checks
from deeptrust.feedback._db import create_store_engine
from deeptrust.feedback._export import ExportResult, latest_decisions, write_folder, write_tar_gz
from deeptrust.feedback._images import ImageFacts, ImageFiles, read_facts
from deeptrust.feedback.errors import FeedbackError, ItemNotFoundError, ReviewError
from deeptrust.feedback.models import Base, FeedbackItem, Origin, Status, utcnow
from deeptrust.settings import Settings, get_settings

REVIEWED = (Status.APPROVED.value, Status.RELABELLED.value)
MAX_NAME = 200
_CHUNK = 500  # bound on an IN (...) list
_Query = TypeVar("_Query", bound=Select[Any])


class PurgeResult(NamedTuple):
    items: int  # rows deleted
    images: int  # image files deleted (those no remaining row references)


def is_borderline(p_ai: float, threshold: float, band: float) -> bool:
    """Whether a prediction goes to the review queue: ``|p_ai - threshold| < band`` (settings.review_band)."""
    return abs(p_ai - threshold) < band


class FeedbackStore:
    def __init__(self, url: str, image_dir: str | Path) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.images = ImageFiles(image_dir)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Serialises "is this image still referenced?" against "add a row for this image" within a
        # process, so that purge never deletes a file a concurrent add has just counted on.
        self._files_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FeedbackStore:
        settings = settings or get_settings()
        return cls(settings.resolved_database_url, settings.feedback_dir / "images")

    def create_schema(self) -> None:
        """Create the table and its indices where missing (idempotent; no migrations).

        Several processes (replicas, ``serve --workers``) may start on one fresh database at once; the
        check-then-create of ``create_all`` races, so a loser that finds the table already made by
        another process looks again instead of failing.
        """
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                return
            except DBAPIError:
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
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
    ) -> FeedbackItem:
        """Queue an image a user flagged as wrongly classified. ``class_names`` checks both labels."""
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
        return self._insert(item, _read_image(image))

    def add_borderline(
        self,
        image: bytes | Path,
        *,
        predicted_label: str,
        p_ai: float,
        threshold: float,
        model_name: str,
        model_version: str,
    ) -> FeedbackItem:
        """Queue an image whose ``p_ai`` was close to the threshold, unless it is queued already.

        Returns the new item, or the pending borderline item of the same image and model version.
        """
        data = _read_image(image)
        item = FeedbackItem(
            origin=Origin.BORDERLINE,
            predicted_label=_checks.check_label(predicted_label, "predicted_label"),
            p_ai=_checks.check_probability(p_ai, "p_ai"),
            threshold=_checks.check_probability(threshold, "threshold"),
            model_name=_checks.check_required(model_name, "model_name", MAX_NAME),
            model_version=_checks.check_required(model_version, "model_version", 100),
        )
        facts = read_facts(data)
        existing = self._pending_borderline(facts.sha256, item.model_version)
        if existing is not None:
            return existing
        try:
            return self._insert(item, data, facts)
        except IntegrityError:  # another thread or replica queued the same image just now
            existing = self._pending_borderline(facts.sha256, item.model_version)
            if existing is None:
                raise
            return existing

    def _pending_borderline(self, sha256: str, model_version: str) -> FeedbackItem | None:
        query = select(FeedbackItem).where(
            FeedbackItem.sha256 == sha256,
            FeedbackItem.model_version == model_version,
            FeedbackItem.origin == Origin.BORDERLINE,
            FeedbackItem.status == Status.PENDING,
        )
        with self._sessions() as session:
            return session.scalars(query).first()

    def _insert(self, item: FeedbackItem, data: bytes, facts: ImageFacts | None = None) -> FeedbackItem:
        facts = facts or read_facts(data)
        item.sha256, item.image_path = facts.sha256, facts.relpath
        item.image_format, item.width, item.height = facts.format, facts.width, facts.height
        item.image_bytes, item.created_at, item.status = facts.bytes, utcnow(), Status.PENDING
        with self._files_lock:
            self.images.write(facts, data)
            with self._transaction() as session:
                session.add(item)
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
        """Delete items created more than ``older_than_days`` ago, and each image no remaining item
        uses. ``0`` keeps everything (as ``DEEPTRUST_FEEDBACK_RETENTION_DAYS=0`` does)."""
        if older_than_days < 0:
            raise FeedbackError(f"older_than_days must be >= 0 (0 keeps everything), got {older_than_days}")
        if older_than_days == 0:
            return PurgeResult(0, 0)
        old = FeedbackItem.created_at < (now or utcnow()) - timedelta(days=older_than_days)
        with self._files_lock:
            with self._transaction() as session:
                rows = session.execute(select(FeedbackItem.sha256, FeedbackItem.image_path).where(old))
                stale: dict[str, str] = {sha: path for sha, path in rows}
                deleted = cast(CursorResult[Any], session.execute(delete(FeedbackItem).where(old))).rowcount
                kept = self._referenced(session, list(stale))
            removed = sum(self.images.delete(stale[sha]) for sha in stale.keys() - kept)
        return PurgeResult(deleted, removed)

    @staticmethod
    def _referenced(session: Session, hashes: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start : start + _CHUNK]
            query = select(FeedbackItem.sha256).where(FeedbackItem.sha256.in_(chunk)).distinct()
            found.update(session.scalars(query))
        return found


def _read_image(image: bytes | Path) -> bytes:
    return Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
