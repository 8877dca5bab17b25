"""Which image files the database says are in use, and deleting the others safely across processes.

The protocol, in every process (service replicas, workers, the ``deeptrust feedback purge`` CLI):

* a writer, in one transaction, inserts the file's ``feedback_images`` row or locks it if it exists,
  inserts its item, writes the file, and commits;
* a collector, in one transaction per file, locks that row (or inserts it, which waits for a writer's
  uncommitted insert), finds no item that uses the image, deletes the file, deletes the row, commits.

On PostgreSQL the row lock orders a writer and a collector of the same file; on SQLite the write lock
taken by ``BEGIN IMMEDIATE`` orders all of them. A collector that crashes after deleting a file leaves
a row with no file and no item, which the next run removes; a writer that crashes after writing leaves
a file with no row, which the next run finds on disk and removes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import cast

from sqlalchemy import Table, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from deeptrust.feedback._images import ImageFacts, ImageFiles
from deeptrust.feedback.errors import FeedbackError
from deeptrust.feedback.models import FeedbackImage, FeedbackItem, utcnow

Transaction = Callable[[], AbstractContextManager[Session]]


def _insert_row(session: Session, sha256: str, relpath: str) -> bool:
    """Insert the file's row unless one exists (waiting for an uncommitted insert of it); True if inserted."""
    values = {"sha256": sha256, "image_path": relpath, "created_at": utcnow()}
    table = cast(Table, FeedbackImage.__table__)
    connection = session.connection()
    if connection.dialect.name == "postgresql":  # psycopg reports rowcount -1 here: ask for the row back
        returning = postgresql.insert(table).values(**values).on_conflict_do_nothing()
        return connection.execute(returning.returning(table.c.sha256)).first() is not None
    statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()  # no RETURNING before 3.35
    return connection.execute(statement).rowcount == 1


def _lock_row(session: Session, sha256: str) -> str | None:
    query = select(FeedbackImage.image_path).where(FeedbackImage.sha256 == sha256).with_for_update()
    return session.execute(query).scalar_one_or_none()


def claim(session: Session, facts: ImageFacts) -> bool:
    """Hold the file's row for this transaction; True when this transaction created it."""
    for _ in range(10):  # a collector may delete the row between the two statements: insert it then
        if _insert_row(session, facts.sha256, facts.relpath):
            return True
        if _lock_row(session, facts.sha256) is not None:
            return False
    raise FeedbackError(f"could not register image {facts.sha256[:12]}…; the store is too busy, retry")


def _in_use(session: Session, sha256: str) -> bool:
    return bool(session.scalar(select(exists().where(FeedbackItem.sha256 == sha256))))


def collect_one(transaction: Transaction, files: ImageFiles, sha256: str, relpath: str) -> bool:
    """Delete one image file if no item uses it; True if a file was deleted."""
    with transaction() as session:
        registered = _lock_row(session, sha256)
        if registered is None and not _insert_row(session, sha256, relpath):
            return False  # a writer registered it just now
        if _in_use(session, sha256):
            return False  # used: the row stays (and now exists for files of older versions' rows)
        deleted = files.delete(registered or relpath)
        session.execute(delete(FeedbackImage).where(FeedbackImage.sha256 == sha256))
    return deleted


def unused_candidates(session: Session, files: ImageFiles) -> dict[str, str]:
    """Files and rows that no item used when this ran; each is checked again under its lock."""
    used = set(session.scalars(select(FeedbackItem.sha256).distinct()))
    registered: dict[str, str] = {
        sha: path for sha, path in session.execute(select(FeedbackImage.sha256, FeedbackImage.image_path))
    }
    found = registered | dict(files.stored())
    return {sha: path for sha, path in found.items() if sha not in used}


def collect_unused(transaction: Transaction, reader: Transaction, files: ImageFiles) -> int:
    """Delete every image file no item uses (and crashed writers' temporary files); the count of images."""
    with reader() as session:
        candidates = unused_candidates(session, files)
    removed = sum(collect_one(transaction, files, sha, path) for sha, path in sorted(candidates.items()))
    files.remove_stale_temporaries()
    return removed
