"""Engines for the feedback store: SQLite files usable from many threads, PostgreSQL via psycopg 3.

On SQLite, SQLAlchemy (not the sqlite3 module) issues BEGIN, so DDL is transactional too, and a
transaction opened with the execution option ``sqlite_begin="IMMEDIATE"`` takes the database's write
lock at its start: the store's writers and the purge, in any process, then run one after another, and
a writer that read first never fails with "database is locked" when it comes to write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created and WAL mode switched on.

    PostgreSQL URLs pass through unchanged, so ``?options=-csearch_path%3Dmy_schema`` selects a schema.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    kwargs: dict[str, Any] = {
        # FastAPI runs sync endpoints in a thread pool: a pooled connection may move between threads,
        # which is safe because a session never shares a connection while it is in use.
        "connect_args": {"check_same_thread": False, "timeout": 30},
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one connection, or every session would see an empty database
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _sqlite_wal if not in_memory else _sqlite_manual_begin)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_manual_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the sqlite3 module emits no BEGIN of its own


def _sqlite_wal(dbapi_connection: Any, record: Any) -> None:
    # WAL lets readers (the review page) run while the service writes borderline items.
    _sqlite_manual_begin(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, got {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_tables(engine: Engine, metadata: MetaData, migrate: Callable[[Connection], None]) -> None:
    """Create what is missing, then ``migrate`` older tables, in one write transaction (idempotent).

    Several processes (replicas, ``serve --workers``) may start on one fresh database at once; on
    PostgreSQL the check-then-create of ``create_all`` races, so a loser looks again instead of failing.
    """
    for attempt in range(3):
        try:
            with engine.connect() as connection:
                connection = connection.execution_options(sqlite_begin="IMMEDIATE")
                with connection.begin():
                    metadata.create_all(connection)
                    migrate(connection)
            return
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))
