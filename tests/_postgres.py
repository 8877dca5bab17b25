"""A throwaway schema on the real PostgreSQL server, chosen through the connection's ``search_path``,
and the rule for servers the tests need: under CI (``CI=true``, as ``.ci/run`` sets) a missing one fails
the test; elsewhere it is skipped with the reason in the summary.

DEEPTRUST_TEST_POSTGRES_URL points the tests at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "DEEPTRUST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class PostgresUnreachableError(RuntimeError):
    pass


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def server_missing(message: str) -> NoReturn:
    """Fail under CI, where every server the tests use must run; skip on a machine without it."""
    if under_ci():
        pytest.fail(f"{message} (CI=true: a missing server fails, it does not skip)", pytrace=False)
    pytest.skip(message)


@contextmanager
def fresh_schema(prefix: str) -> Iterator[tuple[str, str]]:
    """(URL whose search_path is a new schema, the schema's name); the schema is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise PostgresUnreachableError(reason) from exc
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), schema
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
