"""Find the rows an import must not keep as they are: label conflicts, leaks and duplicates.

Every rule marks rows with a ``reason`` rather than deleting them, so the importer can write each
excluded row with why it went. Precedence: unreadable > label_conflict > leak > duplicate.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

# Where the same content sits in several splits, the copy in the first split listed is kept:
# evaluation sets are the scarce, trusted ones.
SPLIT_PRIORITY = {"test": 0, "val": 1, "train": 2}
EXAMPLES = 10


def find_problems(
    table: pd.DataFrame, *, keep_duplicates: bool = False, keep_leaks: bool = False
) -> tuple[pd.DataFrame, dict]:
    """A copy of ``table`` (sorted by relpath) with ``reason``, ``leak`` and ``duplicate`` set.

    ``reason`` is "" for rows to keep. ``table`` needs split, label, relpath, sha256 and error.
    """
    table = table.copy()
    table["reason"] = ""
    table.loc[table["error"] != "", "reason"] = "unreadable"
    stats = {
        "label_conflicts": _mark_conflicts(table, drop=not keep_duplicates),
        "leaks": _mark_leaks(table, drop=not keep_leaks),
        "duplicates": _mark_duplicates(table, drop=not keep_duplicates),
    }
    return table, stats


def _flag(table: pd.DataFrame, index: pd.Index) -> pd.Series:
    flags = pd.Series(False, index=table.index)
    flags[index] = True
    return flags


def _mark_conflicts(table: pd.DataFrame, *, drop: bool) -> dict:
    live = table[table["reason"] == ""]
    labels = live.groupby("sha256")["label"].transform("nunique")
    conflict = _flag(table, labels.index[labels > 1])
    if drop:
        table.loc[conflict, "reason"] = "label_conflict"
    rows = table[conflict]
    examples = [
        {
            "sha256": sha[:12],
            "labels": sorted(group["label"].unique()),
            "relpaths": group["relpath"].head(4).tolist(),
        }
        for sha, group in list(rows.groupby("sha256", sort=False))[:EXAMPLES]
    ]
    return {
        "contents": int(rows["sha256"].nunique()),
        "rows": len(rows),
        "dropped": len(rows) if drop else 0,
        "examples": examples,
    }


def _mark_leaks(table: pd.DataFrame, *, drop: bool) -> dict:
    live = table[table["reason"] == ""]
    splits = live.groupby("sha256")["split"].transform("nunique")
    leak = _flag(table, splits.index[splits > 1])
    table["leak"] = leak
    leaking = table[leak]
    priority = leaking["split"].map(SPLIT_PRIORITY)
    best = priority.groupby(leaking["sha256"]).transform("min")
    losers = priority.index[priority > best]
    if drop:
        table.loc[losers, "reason"] = "leak"
    pairs: dict[str, int] = {}
    for found in leaking.groupby("sha256")["split"].unique():
        ordered = sorted(found, key=SPLIT_PRIORITY.__getitem__, reverse=True)
        for pair in combinations(ordered, 2):
            key = "-".join(pair)
            pairs[key] = pairs.get(key, 0) + 1
    return {
        "contents": int(leaking["sha256"].nunique()),
        "rows": len(leaking),
        "by_pair": dict(sorted(pairs.items())),
        "dropped": len(losers) if drop else 0,
    }


def _mark_duplicates(table: pd.DataFrame, *, drop: bool) -> dict:
    key = ["split", "sha256"]
    live = table[table["reason"] == ""]
    copies = live.groupby(key)["sha256"].transform("size")
    table["duplicate"] = _flag(table, copies.index[copies > 1])
    extra = live.duplicated(key, keep="first")  # rows are sorted by relpath: the first stays
    extra_index = extra.index[extra]
    if drop:
        table.loc[extra_index, "reason"] = "duplicate"
        survivors = table["duplicate"] & (table["reason"] == "")
        table.loc[survivors, "duplicate"] = False  # now the only copy in its split
    by_split = live.loc[extra_index, "split"].value_counts().sort_index()
    return {
        "groups": int((copies > 1).sum() - len(extra_index)),
        "extra_copies": len(extra_index),
        "by_split": {str(k): int(v) for k, v in by_split.items()},
        "dropped": len(extra_index) if drop else 0,
    }
