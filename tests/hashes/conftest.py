"""Fixtures: a hash store on SQLite and on the real PostgreSQL server (a schema of its own)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from deeptrust.hashes.models import Base
from deeptrust.hashes.store import HashStore

from .._postgres import POSTGRES_URL, PostgresUnreachableError, fresh_schema, server_missing


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    try:
        with fresh_schema("deeptrust_hashes") as url_and_schema:
            yield url_and_schema
    except PostgresUnreachableError as exc:
        server_missing(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def hash_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HashStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hashes.db'}"
    else:
        url, _ = request.getfixturevalue("postgres_schema")
    with HashStore(url) as store:
        store.create_schema()
        yield store
    if request.param == "postgresql":
        engine = create_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[HashStore]:
    """SQLite only: for the many input-validation cases, which do not depend on the database."""
    with HashStore(f"sqlite:///{tmp_path / 'hashes.db'}") as store:
        store.create_schema()
        yield store


def hex_of(seed: int) -> str:
    """A made-up PDQ hash (64 hex digits) fixed by ``seed``."""
    return hashlib.sha256(str(seed).encode()).hexdigest()
