"""Crop variants: an image listed from its pixels is found again after a crop its plain hash misses, the
match names the listed entry and the crop; CSV imports stay bare; export and list show entries only; a
database made before crop variants gains the column and keeps its rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, inspect, text

from deeptrust.evidence.pdq import PdqHash, distance, hash_image
from deeptrust.hashes.matcher import HashMatcher, to_match_evidence
from deeptrust.hashes.models import Base
from deeptrust.hashes.store import HashStore
from deeptrust.hashes.variants import RECORD, VARIANTS, crop, hash_variants, pack_variants, unpack_variants

from ..evidence.conftest import read_photos
from .conftest import hex_of


def cropped_reupload(img: Image.Image, box: tuple[float, float, float, float]) -> PdqHash:
    """``img`` cropped, resized to 400×390 and saved as JPEG q80, as a platform might."""
    buf = io.BytesIO()
    crop(img, box).resize((400, 390)).save(buf, "JPEG", quality=80)
    return hash_image(Image.open(io.BytesIO(buf.getvalue())))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return read_photos(1)["FAKE"][0]


@pytest.fixture(scope="module")
def listed(photo: Image.Image) -> tuple[PdqHash, list[tuple[int, PdqHash]]]:
    return hash_image(photo), hash_variants(photo)


def test_a_crop_the_hash_misses_matches_through_a_variant(
    hash_store: HashStore, photo: Image.Image, listed: tuple[PdqHash, list[tuple[int, PdqHash]]]
) -> None:
    pdq, variants = listed
    hash_store.add(pdq.hex, "ai", list_name="review", note="item 7", source="review", variants=variants)
    other = read_photos(2)["REAL"][1]
    hash_store.import_csv(f"{hash_image(other).hex},real,bare\n".encode(), list_name="partner")
    matcher = HashMatcher(hash_store, max_distance=31)
    matcher.refresh(wait=True)
    assert matcher.size == 2 + len(variants) and len(variants) > 30

    query = cropped_reupload(photo, (0.0, 0.0, 0.06, 0.06))  # 6 % off the bottom-right, resized, JPEG
    assert distance(query.hex, pdq.hex) > 31  # the plain hash alone misses it
    hit = matcher.lookup(query)
    assert hit is not None and hit.distance <= 31
    assert (hit.hash, hit.list_name, hit.label, hit.note) == (pdq.hex, "review", "ai", "item 7")
    assert hit.crop == "5 % off the bottom-right"
    entry = to_match_evidence(hit)
    assert entry.data["crop"] == hit.crop and entry.data["hash"] == pdq.hex
    assert "through its crop 5 % off the bottom-right" in entry.detail and entry.strength == "conclusive"

    assert matcher.lookup(pdq).crop is None  # the entry's own hash: no crop named
    # an imported (bare) hash has no variants: a crop of that image is not found
    assert matcher.lookup(cropped_reupload(other, (0.0, 0.0, 0.0, 0.08))) is None


def test_variants_survive_a_csv_reimport_and_go_with_the_entry(
    hash_store: HashStore, listed: tuple[PdqHash, list[tuple[int, PdqHash]]]
) -> None:
    pdq, variants = listed
    hash_store.add(pdq.hex, "ai", list_name="review", variants=variants)
    hash_store.import_csv(f"{pdq.hex},real,relabelled\n{hex_of(1)},ai\n".encode(), list_name="review")
    snap = hash_store.snapshot()
    assert snap.hashes == [pdq.hex, hex_of(1)] and snap.labels == ["real", "ai"]
    assert snap.words.shape == (2 + len(variants), 4)
    assert list(snap.entry[2:]) == [0] * len(variants)
    assert list(snap.variant[:2]) == [0, 0] and list(snap.variant[2:]) == [c for c, _ in variants]

    # export and list show entries, never variants
    out = io.StringIO()
    assert hash_store.export_csv(out, "review") == 2
    assert out.getvalue().splitlines()[1:] == [f"{pdq.hex},real,relabelled", f"{hex_of(1)},ai,"]
    [row] = hash_store.lists()
    assert (row["ai"], row["real"], row["with_crops"]) == (1, 1, 1)

    hash_store.add(pdq.hex, "ai", list_name="review", variants=variants[:3])  # a new image: replaced
    assert hash_store.snapshot().words.shape == (5, 4)
    assert hash_store.remove(pdq.hex, list_name="review")
    assert hash_store.snapshot().words.shape == (1, 4)


def test_local_additions_match_through_their_variants(
    hash_store: HashStore, photo: Image.Image, listed: tuple[PdqHash, list[tuple[int, PdqHash]]]
) -> None:
    pdq, variants = listed
    matcher = HashMatcher(hash_store, refresh_s=3600)
    matcher.refresh(wait=True)
    query = cropped_reupload(photo, (0.0, 0.0, 0.0, 0.08))  # 8 % off the bottom
    assert matcher.lookup(query) is None
    matcher.add_local(pdq.hex, "ai", list_name="review", note="n", variants=variants)
    hit = matcher.lookup(query)
    assert hit is not None and (hit.hash, hit.crop) == (pdq.hex, "7 % off the bottom")


def test_variants_pack_and_unpack() -> None:
    assert len({v.code for v in VARIANTS}) == len(VARIANTS) and all(0 < v.code < 256 for v in VARIANTS)
    flat = Image.new("RGB", (64, 64), (90, 90, 90))
    assert hash_variants(flat) == []  # too flat to match: not stored
    pairs = [(3, PdqHash(hex_of(1), 90)), (40, PdqHash(hex_of(2), 80))]
    blob = pack_variants(pairs)
    assert len(blob) == 2 * RECORD
    owner, codes, words = unpack_variants([None, blob, blob[:-1]])  # a truncated blob is skipped
    assert list(owner) == [1, 1] and list(codes) == [3, 40]
    assert [w.astype(">u8").tobytes().hex() for w in words] == [hex_of(1), hex_of(2)]


# The DDL of the hash lists before crop variants (SQLAlchemy's CREATE statements for that model), verbatim.
_COLUMNS = """list_name VARCHAR(64) NOT NULL, pdq VARCHAR(64) NOT NULL, label VARCHAR(8) NOT NULL, note TEXT,
    source VARCHAR(16) NOT NULL, added_by VARCHAR(200), review_item_id INTEGER,"""
_CONSTRAINTS = """CONSTRAINT uq_hash_entries_list_pdq UNIQUE (list_name, pdq),
    CONSTRAINT ck_hash_entries_label CHECK (label IN ('ai', 'real'))"""
PREVIOUS = {
    "sqlite": f"CREATE TABLE hash_entries (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, {_COLUMNS} "
    f"created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, {_CONSTRAINTS})",
    "postgresql": f"CREATE TABLE hash_entries (id SERIAL NOT NULL, {_COLUMNS} created_at TIMESTAMP WITH "
    f"TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id), {_CONSTRAINTS})",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url, _ = request.getfixturevalue("postgres_schema")
    yield url
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()


def test_a_database_from_before_crop_variants_is_migrated(
    db_url: str, listed: tuple[PdqHash, list[tuple[int, PdqHash]]]
) -> None:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text(PREVIOUS[engine.dialect.name]))
        connection.execute(text("CREATE INDEX ix_hash_entries_updated_at ON hash_entries (updated_at)"))
        connection.execute(
            text(
                "INSERT INTO hash_entries (list_name, pdq, label, note, source, created_at, updated_at) "
                "VALUES ('partner', :pdq, 'ai', 'old row', 'import', :t, :t)"
            ),
            {"pdq": hex_of(1), "t": "2026-11-01 10:00:00"},
        )
    engine.dispose()
    pdq, variants = listed
    with HashStore(db_url) as store:
        store.create_schema()
        store.create_schema()  # idempotent once migrated
        columns = {c["name"] for c in inspect(store.engine).get_columns("hash_entries")}
        assert "crop_variants" in columns
        snap = store.snapshot()
        assert (snap.hashes, snap.notes, snap.words.shape) == ([hex_of(1)], ["old row"], (1, 4))
        store.add(pdq.hex, "ai", list_name="review", variants=variants)
        assert store.snapshot().words.shape == (2 + len(variants), 4)
        assert [e["with_crops"] for e in store.lists()] == [0, 1]


def test_add_image_hashes_the_image_and_its_crops(sqlite_store: HashStore) -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)).resize((1400, 1800))
    pdq, variants = sqlite_store.add_image(img, "real", list_name="mine", note="n")
    assert pdq == hash_image(img) and len(variants) == len(VARIANTS)
    assert [e.crop_variants for e in sqlite_store.entries("mine")] == [pack_variants(variants)]
