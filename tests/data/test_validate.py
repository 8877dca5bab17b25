from __future__ import annotations

import pandas as pd

from deeptrust.data.validate import find_problems


def _table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """rows of (relpath, split, label, content); content "" means an unreadable file."""
    table = pd.DataFrame(rows, columns=["relpath", "split", "label", "sha256"])
    table["error"] = ["" if sha else "truncated: cut" for sha in table["sha256"]]
    return table.sort_values("relpath").reset_index(drop=True)


def _reasons(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["relpath"], table["reason"], strict=True))


ROWS = [
    ("test/FAKE/t1.jpg", "test", "FAKE", "x"),
    ("train/FAKE/a.jpg", "train", "FAKE", "d"),
    ("train/FAKE/b.jpg", "train", "FAKE", "d"),
    ("train/FAKE/c.jpg", "train", "FAKE", "x"),
    ("train/FAKE/e.jpg", "train", "FAKE", "u"),
    ("train/REAL/f.jpg", "train", "REAL", "c"),
    ("train/FAKE/g.jpg", "train", "FAKE", "c"),
    ("train/REAL/h.jpg", "train", "REAL", ""),
    ("train/REAL/i.jpg", "train", "REAL", "ok"),
]


def test_default_drops_duplicates_leaks_and_conflicts() -> None:
    table, stats = find_problems(_table(ROWS))
    assert _reasons(table) == {
        "test/FAKE/t1.jpg": "",
        "train/FAKE/a.jpg": "",
        "train/FAKE/b.jpg": "duplicate",
        "train/FAKE/c.jpg": "leak",
        "train/FAKE/e.jpg": "",
        "train/REAL/f.jpg": "label_conflict",
        "train/FAKE/g.jpg": "label_conflict",
        "train/REAL/h.jpg": "unreadable",
        "train/REAL/i.jpg": "",
    }
    kept = table[table["reason"] == ""].set_index("relpath")
    assert kept["leak"].to_dict()["test/FAKE/t1.jpg"]  # the test copy stays, flagged
    assert not kept["duplicate"].any()  # the surviving copy is now unique in its split
    assert stats["duplicates"] == {
        "groups": 1,
        "extra_copies": 1,
        "by_split": {"train": 1},
        "dropped": 1,
    }
    assert stats["leaks"] == {"contents": 1, "rows": 2, "by_pair": {"train-test": 1}, "dropped": 1}
    conflicts = stats["label_conflicts"]
    assert (conflicts["contents"], conflicts["rows"], conflicts["dropped"]) == (1, 2, 2)
    assert conflicts["examples"][0]["labels"] == ["FAKE", "REAL"]


def test_flags_keep_everything_readable_but_still_mark_it() -> None:
    table, stats = find_problems(_table(ROWS), keep_duplicates=True, keep_leaks=True)
    assert set(table.loc[table["reason"] != "", "relpath"]) == {"train/REAL/h.jpg"}
    flagged = table.set_index("relpath")
    assert flagged.loc["train/FAKE/a.jpg", "duplicate"] and flagged.loc["train/FAKE/b.jpg", "duplicate"]
    assert flagged.loc["train/FAKE/c.jpg", "leak"] and flagged.loc["test/FAKE/t1.jpg", "leak"]
    # kept conflicting copies sit in one split, so they are duplicates of each other too
    assert flagged.loc["train/REAL/f.jpg", "duplicate"]
    assert stats["label_conflicts"]["dropped"] == 0 and stats["leaks"]["dropped"] == 0
    assert stats["duplicates"]["dropped"] == 0 and stats["duplicates"]["groups"] == 2


def test_leak_keeps_the_highest_priority_split() -> None:
    rows = [
        ("train/A/1.jpg", "train", "A", "z"),
        ("val/A/1.jpg", "val", "A", "z"),
        ("test/A/1.jpg", "test", "A", "z"),
        ("val/A/2.jpg", "val", "A", "y"),
        ("train/A/2.jpg", "train", "A", "y"),
    ]
    table, stats = find_problems(_table(rows))
    assert _reasons(table) == {
        "test/A/1.jpg": "",
        "train/A/1.jpg": "leak",
        "train/A/2.jpg": "leak",
        "val/A/1.jpg": "leak",
        "val/A/2.jpg": "",
    }
    assert stats["leaks"]["by_pair"] == {"train-test": 1, "train-val": 2, "val-test": 1}
