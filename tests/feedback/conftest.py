"""Fixtures: a feedback store on SQLite and on the real PostgreSQL server, and small test images.

PostgreSQL tests run in a schema of their own (``deeptrust_test_<random>``, chosen through the
connection's ``search_path``), dropped when the session ends. They are skipped, with the reason in
the summary, only when the server cannot be reached. DEEPTRUST_TEST_POSTGRES_URL points elsewhere.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from deeptrust.feedback import FeedbackStore
from deeptrust.feedback.models import Base

POSTGRES_URL = os.environ.get(
    "DEEPTRUST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(URL whose search_path is a fresh schema, the schema's name)."""
    schema = f"deeptrust_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"\nPostgreSQL tests skipped: {POSTGRES_URL} is unreachable ({reason})")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {reason}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), schema
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


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
