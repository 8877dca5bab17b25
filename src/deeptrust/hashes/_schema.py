"""Create the hash-list table, and bring a database made by an earlier version up to date.

Earlier versions made ``hash_entries`` without ``crop_variants``; ``create_schema`` adds the column
(nullable: existing rows are bare hashes until ``deeptrust hashes sync-review`` re-hashes the reviewed
images). It runs in one transaction (SQLite: holding the write lock), so processes that start together
migrate once, and a failure leaves the old schema as it was; PostgreSQL's check-then-create races between
processes, so a loser looks again instead of failing.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text

from deeptrust.feedback._db import create_tables
from deeptrust.hashes.models import Base, HashEntry

ENTRIES = HashEntry.__tablename__
VARIANTS_COLUMN = "crop_variants"


def create_schema(engine: Engine) -> None:
    """Create what is missing and migrate older tables (idempotent, safe to run from many processes)."""
    create_tables(engine, Base.metadata, migrate)


def migrate(connection: Connection) -> None:
    columns = {column["name"] for column in inspect(connection).get_columns(ENTRIES)}
    if VARIANTS_COLUMN not in columns:
        postgres = connection.dialect.name == "postgresql"
        kind = "BYTEA" if postgres else "BLOB"
        exists = " IF NOT EXISTS" if postgres else ""
        connection.execute(text(f"ALTER TABLE {ENTRIES} ADD COLUMN{exists} {VARIANTS_COLUMN} {kind}"))
