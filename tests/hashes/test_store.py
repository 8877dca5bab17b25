"""The hash lists on SQLite and PostgreSQL: upserts, CSV import (all or nothing, errors by line), export."""

from __future__ import annotations

import io

import pytest

from deeptrust.hashes.errors import HashImportError, HashListError
from deeptrust.hashes.store import HashStore

from .conftest import hex_of


def test_add_upsert_and_snapshot(hash_store: HashStore) -> None:
    hash_store.add(hex_of(1), "ai", list_name="review", note="first", source="review", review_item_id=7)
    hash_store.add(hex_of(2).upper(), "REAL", list_name="partner")
    before = hash_store.version()
    hash_store.add(hex_of(1), "real", list_name="review", note="relabelled")  # same list + hash: updated
    assert hash_store.version() != before
    snap = hash_store.snapshot()
    assert sorted(zip(snap.hashes, snap.labels, snap.lists, strict=True)) == sorted(
        [(hex_of(1), "real", "review"), (hex_of(2), "real", "partner")]
    )
    assert snap.words.shape == (2, 4) and snap.version == hash_store.version()
    assert {e["list"]: (e["ai"], e["real"]) for e in hash_store.lists()} == {
        "partner": (0, 1),
        "review": (0, 1),
    }
    assert hash_store.remove(hex_of(2), list_name="partner") and not hash_store.remove(
        hex_of(2), list_name="partner"
    )


def test_bad_single_entries(sqlite_store: HashStore) -> None:
    hash_store = sqlite_store
    with pytest.raises(HashListError, match="64 hex digits"):
        hash_store.add("abc", "ai", list_name="x")
    with pytest.raises(HashListError, match="label must be one of ai, real"):
        hash_store.add(hex_of(1), "fake", list_name="x")
    with pytest.raises(HashListError, match="a list name is"):
        hash_store.add(hex_of(1), "ai", list_name="no spaces")
    assert hash_store.snapshot().hashes == []


def test_csv_import_export_round_trip(hash_store: HashStore) -> None:
    text = (
        "\ufeffhash,label,note\n"
        f'{hex_of(1)},ai,"from partner, batch 3"\n'
        "# a comment\n\n"
        f"{hex_of(2)},Real\n"
        f"{hex_of(1)},ai,later note wins\n"
    )
    assert hash_store.import_csv(text.encode(), list_name="partner-x") == 2
    out = io.StringIO()
    assert hash_store.export_csv(out, "partner-x") == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "hash,label,note"
    assert sorted(lines[1:]) == sorted([f"{hex_of(1)},ai,later note wins", f"{hex_of(2)},real,"])
    # importing the export again changes nothing; --replace makes the list equal the file
    assert hash_store.import_csv(out.getvalue().encode(), list_name="partner-x") == 2
    assert hash_store.import_csv(f"{hex_of(3)},ai\n".encode(), list_name="partner-x", replace=True) == 1
    assert hash_store.snapshot().hashes == [hex_of(3)]


BAD_CSVS = {
    "short hash": (f"{hex_of(1)},ai\nabc,ai\n", [(2, "64 hex digits, got 3")]),
    "bad label": (f"{hex_of(1)},maybe,x\n", [(1, "label must be one of ai, real, got 'maybe'")]),
    "columns": (f"{hex_of(1)}\n{hex_of(2)},ai,n,extra\n", [(1, "got 1"), (2, "got 4")]),
    "not hex": (f"{'g' * 64},ai\n", [(1, "hex digits 0-9a-f only")]),
    "conflict": (f"{hex_of(1)},ai\n{hex_of(2)},real\n{hex_of(1)},real\n", [(3, "is 'ai' on line 2")]),
    "broken quote": (f'{hex_of(1)},ai,"unterminated\n', [(1, "not valid CSV")]),
    "long note": (f"{hex_of(1)},ai,{'n' * 1001}\n", [(1, "note is 1001 characters")]),
}


@pytest.mark.parametrize("case", list(BAD_CSVS))
def test_bad_csv_is_rejected_whole_with_line_numbers(sqlite_store: HashStore, case: str) -> None:
    check_rejected(sqlite_store, case)


def test_bad_csv_leaves_postgresql_untouched(hash_store: HashStore) -> None:
    check_rejected(hash_store, "conflict")


def check_rejected(hash_store: HashStore, case: str) -> None:
    hash_store.add(hex_of(9), "ai", list_name="partner")
    text, expected = BAD_CSVS[case]
    good_first = f"{hex_of(5)},ai\n"  # a good row before the bad ones must not be written either
    with pytest.raises(HashImportError) as raised:
        hash_store.import_csv((good_first + text).encode(), list_name="partner", replace=True)
    problems = raised.value.problems
    assert [line for line, _ in problems] == [line + 1 for line, _ in expected]
    for (_, message), (_, want) in zip(problems, expected, strict=True):
        assert want in message
    assert "nothing imported" in str(raised.value) and f"line {expected[0][0] + 1}:" in str(raised.value)
    assert hash_store.snapshot().hashes == [hex_of(9)]  # untouched, --replace included


def test_not_utf8(sqlite_store: HashStore) -> None:
    data = f"{hex_of(1)},ai\n{hex_of(2)},ai,caf\xe9\n".encode("latin-1")
    with pytest.raises(HashImportError, match="line 2: not UTF-8"):
        sqlite_store.import_csv(data, list_name="x")


def test_many_rows_in_batches(hash_store: HashStore) -> None:
    rows = "".join(f"{hex_of(i)},{'ai' if i % 2 else 'real'}\n" for i in range(2500))
    assert hash_store.import_csv(rows.encode(), list_name="big") == 2500  # two INSERT batches
    assert hash_store.version()[0] == 2500
