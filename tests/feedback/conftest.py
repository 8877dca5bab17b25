"""Fixtures: a feedback store on SQLite and on the real PostgreSQL server, and small test images.

PostgreSQL tests run in a schema of their own (``deeptrust_test_<random>``, chosen through the
connection's ``search_path``), dropped when the session ends. When the server cannot be reached they
are skipped with the reason in the summary, except under CI (``CI=true``), where they fail.
DEEPTRUST_TEST_POSTGRES_URL points elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine

from deeptrust.feedback import FeedbackStore
from deeptrust.feedback.models import Base

from .._postgres import POSTGRES_URL, PostgresUnreachableError, fresh_schema, server_missing

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(URL whose search_path is a fresh schema, the schema's name)."""
    try:
        with fresh_schema("deeptrust_test") as url_and_schema:
            yield url_and_schema
    except PostgresUnreachableError as exc:
        server_missing(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with no feedback table yet; the table is dropped again afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.db'}"
        return
    url, _schema = request.getfixturevalue("postgres_schema")
    yield url
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(db_url, tmp_path / "images") as created:
        created.create_schema()
        yield created


def image_bytes(seed: int, *, fmt: str = "JPEG", size: tuple[int, int] = (16, 12)) -> bytes:
    """A small noise image whose content is fixed by ``seed``."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()
