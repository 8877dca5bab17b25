"""Job-store fixtures: the same tests on a SQLite file and on a fresh PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deeptrust.jobs import JobStore

from .._postgres import PostgresUnreachableError, fresh_schema, server_missing


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    try:
        with fresh_schema("deeptrust_jobs") as (url, _schema):
            yield url
    except PostgresUnreachableError as exc:
        server_missing(f"PostgreSQL is unreachable ({exc})")


@pytest.fixture
def jobs(database_url: str, tmp_path: Path) -> Iterator[JobStore]:
    store = JobStore(database_url, tmp_path / "logs")
    store.create_schema()
    yield store
    store.close()
