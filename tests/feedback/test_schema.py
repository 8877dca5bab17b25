"""A database made by the previous version (no pixels_sha256, no feedback_images and, on SQLite, no
AUTOINCREMENT) keeps its rows and ids and gains what this version needs when the store starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from deeptrust.feedback import FeedbackStore
from deeptrust.feedback._images import read_facts

from .conftest import image_bytes
from .test_store import BORDER, FLAG, backdate

# The DDL of deeptrust's first feedback store (SQLAlchemy's CREATE statements for its models), verbatim.
_COLUMNS = """
    sha256 VARCHAR(64) NOT NULL, image_path VARCHAR(255) NOT NULL, image_format VARCHAR(16) NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, image_bytes INTEGER NOT NULL,
    origin VARCHAR(16) NOT NULL, model_name VARCHAR(200), model_version VARCHAR(100) NOT NULL,
    predicted_label VARCHAR(64) NOT NULL, p_ai FLOAT NOT NULL, threshold FLOAT,
    corrected_label VARCHAR(64), who VARCHAR(200), comment TEXT, status VARCHAR(16) NOT NULL,
    final_label VARCHAR(64), reviewed_by VARCHAR(200),
"""
_CHECKS = """PRIMARY KEY (id),
    CONSTRAINT feedback_origin CHECK (origin IN ('flag', 'borderline')),
    CONSTRAINT feedback_status CHECK (status IN ('pending', 'approved', 'relabelled'))"""
PREVIOUS = {
    "sqlite": f"CREATE TABLE feedback_items (id INTEGER NOT NULL, created_at DATETIME NOT NULL, {_COLUMNS}"
    f" reviewed_at DATETIME, {_CHECKS})",
    "postgresql": f"CREATE TABLE feedback_items (id SERIAL NOT NULL, created_at TIMESTAMP WITH TIME ZONE "
    f"NOT NULL, {_COLUMNS} reviewed_at TIMESTAMP WITH TIME ZONE, {_CHECKS})",
}
PREVIOUS_INDICES = [
    "CREATE INDEX ix_feedback_items_created_at ON feedback_items (created_at)",
    "CREATE INDEX ix_feedback_items_sha256 ON feedback_items (sha256)",
    "CREATE INDEX ix_feedback_items_status ON feedback_items (status)",
    "CREATE UNIQUE INDEX uq_feedback_pending_borderline ON feedback_items (sha256, model_version) "
    "WHERE origin = 'borderline' AND status = 'pending'",
]


def make_previous_database(url: str, images: Path) -> list[bytes]:
    """Rows 1..3 (id 3 purged afterwards, as the old purge did), their files written as the old store did."""
    engine = create_engine(url)
    dialect = engine.dialect.name
    data = [image_bytes(seed) for seed in (1, 2, 3)]
    with engine.begin() as connection:
        connection.execute(text(PREVIOUS[dialect]))
        for statement in PREVIOUS_INDICES:
            connection.execute(text(statement))
        for n, blob in enumerate(data, start=1):
            facts = read_facts(blob)
            (images / facts.relpath).parent.mkdir(parents=True, exist_ok=True)
            (images / facts.relpath).write_bytes(blob)
            connection.execute(
                text(
                    "INSERT INTO feedback_items (id, created_at, sha256, image_path, image_format, width, "
                    "height, image_bytes, origin, model_version, predicted_label, p_ai, status) VALUES "
                    "(:id, :created, :sha, :path, 'JPEG', 16, 12, :size, :origin, '1.0', 'FAKE', 0.55, "
                    "'pending')"
                ),
                {
                    "id": n,
                    "created": f"2026-01-0{n} 10:00:00",
                    "sha": facts.sha256,
                    "path": facts.relpath,
                    "size": len(blob),
                    "origin": "borderline" if n == 2 else "flag",
                },
            )
        connection.execute(text("DELETE FROM feedback_items WHERE id = 3"))
        if dialect == "postgresql":
            connection.execute(text("SELECT setval('feedback_items_id_seq', 3)"))
    engine.dispose()
    return data


def test_a_previous_versions_database_is_migrated_in_place(db_url: str, tmp_path: Path) -> None:
    images = tmp_path / "images"
    data = make_previous_database(db_url, images)
    with FeedbackStore(db_url, images) as store:
        store.create_schema()
        store.create_schema()  # idempotent once migrated
        assert [item.id for item in store.list_review()] == [1, 2]
        assert store.get(1).sha256 == read_facts(data[0]).sha256 and store.get(1).pixels_sha256 is None
        columns = {c["name"] for c in inspect(store.engine).get_columns("feedback_items")}
        assert "pixels_sha256" in columns and "feedback_images" in inspect(store.engine).get_table_names()
        indexed = {ix["name"] for ix in inspect(store.engine).get_indexes("feedback_items")}
        assert {"uq_feedback_pending_borderline_pixels", "ix_feedback_items_who_created_at"} <= indexed

        new = store.add_feedback(data[2], **FLAG, who="carol")  # type: ignore[arg-type]
        # SQLite without AUTOINCREMENT kept no trace of row 3, so the rebuilt table continues after the
        # highest id left (2, giving 3); PostgreSQL's sequence remembers 3 (giving 4). From now on no id
        # comes back:
        assert new.id == (3 if store.engine.dialect.name == "sqlite" else 4)
        again = store.add_borderline(data[1] + b"trailing", p_ai=0.5, **BORDER)  # type: ignore[arg-type]
        assert again.id == new.id + 1  # the old row has no pixel hash; a new item is the safe outcome
        backdate(store, new.id, 400)
        assert store.purge(365).items == 1  # only the backdated new item; the old rows keep their files
        assert all((images / store.get(i).image_path).is_file() for i in (1, 2))
        assert store.purge(365, now=store.get(1).created_at.replace(year=2028)).items == 3
        assert not any(images.rglob("*.jpg"))

        # ids stay unique after a purge that removed the highest
        assert store.add_feedback(data[0], **FLAG).id == again.id + 1  # type: ignore[arg-type]


def test_a_failed_migration_leaves_the_previous_schema(tmp_path: Path, monkeypatch) -> None:
    from deeptrust.feedback import _schema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_previous_database(url, tmp_path / "images")

    def broken(connection, old_columns):
        connection.execute(text("ALTER TABLE feedback_items RENAME TO feedback_items_before_autoincrement"))
        raise RuntimeError("power cut")

    monkeypatch.setattr(_schema, "_rebuild_sqlite", broken)
    with FeedbackStore(url, tmp_path / "images") as store:
        with pytest.raises(RuntimeError, match="power cut"):
            store.create_schema()
        tables = inspect(store.engine).get_table_names()
        assert "feedback_items" in tables and "feedback_items_before_autoincrement" not in tables
        assert store.count(None) == 2


def _open_at(url: str, images: str, barrier) -> None:
    store = FeedbackStore(url, Path(images))
    barrier.wait()  # replicas upgraded together all start on the old database at once
    store.create_schema()
    store.close()


def test_processes_starting_together_on_a_previous_versions_database_migrate_once(
    db_url: str, tmp_path: Path
) -> None:
    import multiprocessing

    make_previous_database(db_url, tmp_path / "images")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_at, args=(db_url, str(tmp_path / "images"), barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    with FeedbackStore(db_url, tmp_path / "images") as store:
        assert [item.id for item in store.list_review()] == [1, 2]
        assert "pixels_sha256" in {c["name"] for c in inspect(store.engine).get_columns("feedback_items")}
