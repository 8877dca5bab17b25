"""Engines for the feedback store: SQLite files usable from many threads, PostgreSQL via psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
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
    if not in_memory:
        event.listen(engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the review page) run while the service writes borderline items.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
