"""The hash lists, stored durably in the feedback store's database (SQLite or PostgreSQL).

Usage::

    store = HashStore.from_settings()      # DEEPTRUST_DATABASE_URL, as the feedback store
    store.create_schema()
    store.import_csv(Path("known.csv").read_bytes(), list_name="partner-x")   # all rows or none
    store.add("ab12…", "ai", list_name="review", source="review", added_by="mod")
    snapshot = store.snapshot()            # every entry, for the in-memory index

Writes are upserts on ``(list_name, pdq)``: importing a file twice changes nothing, a later label wins.
Non-goals: per-entry history, access control (the CLI and the service's moderator role decide who writes).
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from deeptrust.evidence.pdq import hex_to_words, normalise_hex
from deeptrust.feedback._db import create_store_engine
from deeptrust.feedback.models import utcnow
from deeptrust.hashes._csv import Row, parse_csv
from deeptrust.hashes.errors import HashListError
from deeptrust.hashes.models import LABELS, MAX_LIST_NAME, MAX_NOTE, Base, HashEntry
from deeptrust.settings import Settings, get_settings

_LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_BATCH = 2000  # rows per INSERT: 9 parameters each, under SQLite's 32 766


@dataclass(frozen=True)
class Snapshot:
    """Every listed hash, as arrays in one order (row ``i`` of ``words`` is ``labels[i]``, …)."""

    words: np.ndarray  # (N, 4) uint64
    hashes: list[str]
    labels: list[str]
    lists: list[str]
    notes: list[str | None]
    version: tuple[int, int, str]


def check_list_name(name: str) -> str:
    value = name.strip().lower()
    if not _LIST_NAME.match(value) or len(value) > MAX_LIST_NAME:
        raise HashListError(
            f"a list name is 1-{MAX_LIST_NAME} characters a-z, 0-9, '.', '_' or '-' (starting with a "
            f"letter or digit), got {name[:80]!r}"
        )
    return value


class HashStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_store_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> HashStore:
        settings = settings or get_settings()
        return cls(settings.resolved_database_url)

    def create_schema(self) -> None:
        """Create the table where missing; processes starting together on PostgreSQL may race, so retry."""
        for attempt in range(3):
            try:
                with self.engine.connect() as connection:
                    connection = connection.execution_options(sqlite_begin="IMMEDIATE")
                    with connection.begin():
                        Base.metadata.create_all(connection)
                return
            except DBAPIError:
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> HashStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session

    # -- writing --

    def add(
        self,
        pdq: str,
        label: str,
        *,
        list_name: str,
        note: str | None = None,
        source: str = "manual",
        added_by: str | None = None,
        review_item_id: int | None = None,
    ) -> None:
        """Add one hash to a list, or update its label and note there."""
        row = Row(0, normalise_hex_or_fail(pdq), _check_label(label), _check_note(note))
        with self._transaction() as session:
            self._upsert(session, check_list_name(list_name), [row], source, added_by, review_item_id)

    def import_csv(
        self,
        data: bytes,
        *,
        list_name: str,
        source: str = "import",
        added_by: str | None = None,
        replace: bool = False,
        filename: str = "<csv>",
    ) -> int:
        """Import a whole CSV into ``list_name`` in one transaction: every row or, on any error, none.

        ``replace`` empties the list first (in the same transaction), so the list becomes the file.
        Returns the number of rows written."""
        name = check_list_name(list_name)
        rows = parse_csv(data, filename)
        with self._transaction() as session:
            if replace:
                session.execute(delete(HashEntry).where(HashEntry.list_name == name))
            for start in range(0, len(rows), _BATCH):
                self._upsert(session, name, rows[start : start + _BATCH], source, added_by, None)
        return len(rows)

    def _upsert(
        self,
        session: Session,
        list_name: str,
        rows: list[Row],
        source: str,
        added_by: str | None,
        review_item_id: int | None,
    ) -> None:
        if not rows:
            return
        now = utcnow()
        values = [
            {
                "list_name": list_name,
                "pdq": r.pdq,
                "label": r.label,
                "note": r.note,
                "source": source,
                "added_by": added_by,
                "review_item_id": review_item_id,
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(HashEntry)
        statement = statement.on_conflict_do_update(
            index_elements=["list_name", "pdq"],
            set_={
                name: statement.excluded[name]
                for name in ("label", "note", "source", "added_by", "review_item_id", "updated_at")
            },
        )
        # executemany: one compiled statement, rows sent in batches (SQLAlchemy's insertmanyvalues)
        session.execute(statement, values)

    def remove(self, pdq: str, *, list_name: str) -> bool:
        """Remove one hash from a list; whether it was there."""
        with self._transaction() as session:
            result = session.execute(
                delete(HashEntry).where(
                    HashEntry.list_name == check_list_name(list_name),
                    HashEntry.pdq == normalise_hex_or_fail(pdq),
                )
            )
        return bool(getattr(result, "rowcount", 0))

    def delete_list(self, list_name: str) -> int:
        with self._transaction() as session:
            result = session.execute(
                delete(HashEntry).where(HashEntry.list_name == check_list_name(list_name))
            )
        return int(getattr(result, "rowcount", 0))

    # -- reading --

    def lists(self) -> list[dict[str, Any]]:
        """One row per list: its name, how many ai and real hashes it holds, when it last changed."""
        query = select(
            HashEntry.list_name, HashEntry.label, func.count(), func.max(HashEntry.updated_at)
        ).group_by(HashEntry.list_name, HashEntry.label)
        out: dict[str, dict[str, Any]] = {}
        with self._sessions() as session:
            for name, label, count, updated in session.execute(query):
                entry = out.setdefault(name, {"list": name, "ai": 0, "real": 0, "updated_at": None})
                entry[label] = int(count)
                stamp = updated.isoformat() if updated else None
                entry["updated_at"] = max(filter(None, (entry["updated_at"], stamp)), default=None)
        return sorted(out.values(), key=lambda e: e["list"])

    def entries(self, list_name: str | None = None) -> list[HashEntry]:
        query = select(HashEntry).order_by(HashEntry.list_name, HashEntry.id)
        if list_name is not None:
            query = query.where(HashEntry.list_name == check_list_name(list_name))
        with self._sessions() as session:
            return list(session.scalars(query))

    def export_csv(self, out: TextIO, list_name: str | None = None) -> int:
        """Write ``hash,label,note`` rows (the import format); returns how many."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["hash", "label", "note"])
        n = 0
        for entry in self.entries(list_name):
            writer.writerow([entry.pdq, entry.label, entry.note or ""])
            n += 1
        return n

    def version(self) -> tuple[int, int, str]:
        """(rows, highest id, latest change): changes whenever any list does (one indexed query)."""
        query = select(func.count(), func.max(HashEntry.id), func.max(HashEntry.updated_at))
        with self._sessions() as session:
            count, top, updated = session.execute(query).one()
        return int(count), int(top or 0), updated.isoformat() if updated else ""

    def snapshot(self) -> Snapshot:
        """Every entry, for building an index; read in one transaction so it matches its version."""
        columns = (HashEntry.pdq, HashEntry.label, HashEntry.list_name, HashEntry.note)
        with self._sessions() as session, session.begin():
            count, top, updated = session.execute(
                select(func.count(), func.max(HashEntry.id), func.max(HashEntry.updated_at))
            ).one()
            rows = session.execute(select(*columns).order_by(HashEntry.id)).all()
        hashes = [r[0] for r in rows]
        blob = bytes.fromhex("".join(hashes))
        words = np.frombuffer(blob, dtype=">u8").astype(np.uint64).reshape(-1, 4)
        return Snapshot(
            words=words,
            hashes=hashes,
            labels=[r[1] for r in rows],
            lists=[r[2] for r in rows],
            notes=[r[3] for r in rows],
            version=(int(count), int(top or 0), updated.isoformat() if updated else ""),
        )


def normalise_hex_or_fail(pdq: str) -> str:
    try:
        return normalise_hex(pdq)
    except ValueError as exc:
        raise HashListError(str(exc)) from None


def _check_label(label: str) -> str:
    value = label.strip().lower()
    if value not in LABELS:
        raise HashListError(f"label must be one of {', '.join(LABELS)}, got {label[:40]!r}")
    return value


def _check_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE:
        raise HashListError(f"note is {len(note)} characters, the limit is {MAX_NOTE}")
    return note.strip()


def words_of(hashes: Iterable[str]) -> np.ndarray:
    return np.stack([hex_to_words(h) for h in hashes]) if hashes else np.empty((0, 4), np.uint64)
