"""Create the feedback tables, and bring a database made by an earlier version up to date.

Earlier versions made ``feedback_items`` without ``pixels_sha256``, without the per-caller index and,
on SQLite, without AUTOINCREMENT (so SQLite reused the highest id after a purge). ``create_schema``
adds the column and the indices, and on SQLite rebuilds the table once with AUTOINCREMENT, keeping
every row and id. ``feedback_images`` is new; the purge registers the files of older rows as it meets
them. Everything runs in one transaction (SQLite: holding the write lock), so processes that start
together migrate once, and a failure leaves the old schema as it was.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Engine, Table, inspect, text

from deeptrust.feedback._db import create_tables
from deeptrust.feedback.models import PIXELS_COLUMN, Base, FeedbackItem

ITEMS = FeedbackItem.__tablename__
ITEMS_TABLE = cast(Table, FeedbackItem.__table__)


def create_schema(engine: Engine) -> None:
    """Create what is missing and migrate older tables (idempotent, safe to run from many processes)."""
    create_tables(engine, Base.metadata, migrate)


def migrate(connection: Connection) -> None:
    columns = {column["name"] for column in inspect(connection).get_columns(ITEMS)}
    if connection.dialect.name == "sqlite" and not _has_autoincrement(connection):
        _rebuild_sqlite(connection, columns)
        return
    if PIXELS_COLUMN not in columns:
        exists = " IF NOT EXISTS" if connection.dialect.name == "postgresql" else ""
        connection.execute(text(f"ALTER TABLE {ITEMS} ADD COLUMN{exists} {PIXELS_COLUMN} VARCHAR(64)"))
    for index in ITEMS_TABLE.indexes:
        index.create(connection, checkfirst=True)


def _has_autoincrement(connection: Connection) -> bool:
    sql = connection.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": ITEMS}
    ).scalar_one()
    return "AUTOINCREMENT" in sql.upper()


def _rebuild_sqlite(connection: Connection, old_columns: set[str]) -> None:
    """SQLite cannot add AUTOINCREMENT to a table: copy the rows into a new one, ids included."""
    old = f"{ITEMS}_before_autoincrement"
    indices = connection.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :name AND sql IS NOT NULL"),
        {"name": ITEMS},
    ).scalars()
    for name in list(indices):  # they would move with the renamed table and block the new ones' names
        connection.execute(text(f'DROP INDEX "{name}"'))
    connection.execute(text(f"ALTER TABLE {ITEMS} RENAME TO {old}"))
    ITEMS_TABLE.create(connection)
    kept = ", ".join(c.name for c in ITEMS_TABLE.columns if c.name in old_columns)
    connection.execute(text(f"INSERT INTO {ITEMS} ({kept}) SELECT {kept} FROM {old}"))
    connection.execute(text(f"DROP TABLE {old}"))
