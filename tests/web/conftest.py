"""Web fixtures: API keys per role, an in-process app with auth required, a PostgreSQL schema per test.

The service fixtures (``server_factory``, ``jpeg_bytes``, ``make_settings``) come from tests/serve.
PostgreSQL is not optional here: CI runs it, so an unreachable server fails the test, with the URL
(DEEPTRUST_TEST_POSTGRES_URL overrides tests/feedback's default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deeptrust.serve.app import create_app
from deeptrust.serve.auth import KeyStore

from .._postgres import POSTGRES_URL, PostgresUnreachableError, fresh_schema
from ..serve.conftest import make_settings, server_factory  # noqa: F401  (server_factory: a fixture)

ROLES = ("user", "moderator", "admin")


@pytest.fixture
def keys(isolated_home: Path) -> dict[str, str]:
    """One API key per role, in the key file the service reads (``<home>/api_keys.json``)."""
    store = KeyStore(isolated_home / "api_keys.json")
    return {role: store.create(f"test-{role}", role=role)[1] for role in ROLES}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app_factory() -> Iterator[Callable[..., TestClient]]:
    """``start(**settings)``: an in-process app (cifake, auth required unless overridden), closed after."""
    clients: list[TestClient] = []

    def start(**overrides: object) -> TestClient:
        settings = make_settings(**({"auth": "required", "review_band": 0.0} | overrides))
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)  # the service's shutdown closes its feedback store


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema on the real PostgreSQL server; dropped afterwards."""
    try:
        with fresh_schema("deeptrust_web") as (url, _schema):
            yield url
    except PostgresUnreachableError as exc:
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc}); start it or point "
            "DEEPTRUST_TEST_POSTGRES_URL at one — CI runs these tests against a real server"
        )
