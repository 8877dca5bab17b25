"""The validation report of an import, as a JSON-ready dict (saved as ``report.json``).

Everything found is counted here, including what was skipped or excluded, so that nothing leaves
a dataset silently. Rendering for people lives in :mod:`deeptrust.data.render`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from deeptrust.data._near import MAX_DISTANCE, near_duplicate_groups
from deeptrust.data.shortcuts import score_shortcuts
from deeptrust.data.sources import Source

EXCLUSION_REASONS = ("unreadable", "label_conflict", "leak", "duplicate")
SPLITS = ("train", "val", "test")
EXAMPLES = 10


def build_report(
    *,
    name: str,
    source: Source,
    table: pd.DataFrame,
    stats: dict,
    options: dict,
    fingerprint: str,
    split_info: dict,
    dataset_hash: str,
) -> dict:
    """``table`` holds every scanned row with its final split and ``reason`` ("" when kept)."""
    kept = table[table["reason"] == ""]
    readable = table[table["error"] == ""]
    reasons = table.loc[table["reason"] != "", "reason"].value_counts()
    return {
        "name": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {
            "path": str(source.origin),
            "kind": source.kind,
            "layout": source.layout,
            "root": str(source.root),
            "fingerprint": fingerprint,
        },
        "options": options,
        "counts": {
            "found": len(table),
            "skipped": len(source.skipped),
            "kept": len(kept),
            "excluded": int(reasons.sum()),
            "excluded_by_reason": {reason: int(reasons.get(reason, 0)) for reason in EXCLUSION_REASONS},
        },
        "skipped": _skipped(source.skipped),
        "unreadable": _unreadable(table[table["error"] != ""]),
        "formats": _counts(readable["format"]),
        "modes": _counts(readable["mode"]),
        "non_rgb": _counts(readable.loc[readable["mode"] != "RGB", "mode"]),
        "class_balance": class_balance(kept),
        "sources": source_balance(kept),
        "generators": _counts(kept.loc[kept["generator"] != "", "generator"]),
        "label_conflicts": stats["label_conflicts"],
        "leaks": {**stats["leaks"], "flagged_kept": int(kept["leak"].sum())},
        "duplicates": {**stats["duplicates"], "flagged_kept": int(kept["duplicate"].sum())},
        "split": split_info,
        "near_duplicates": near_duplicates(kept),
        "shortcuts": score_shortcuts(kept),
        "dataset_hash": dataset_hash,
    }


def class_balance(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Rows per label in each split present, splits in train, val, test order."""
    balance = {}
    for split in SPLITS:
        labels = manifest.loc[manifest["split"] == split, "label"]
        if len(labels):
            balance[split] = _counts(labels, by_name=True)
    return balance


def near_duplicates(kept: pd.DataFrame) -> dict:
    """Kept images that are near copies of each other (dHash), and those that sit in two splits.

    Counted, never dropped: a near copy may be a legitimate variant, and dropping would change the
    split that earlier imports (and the models trained on them) recorded.
    """
    groups = near_duplicate_groups(kept["dhash"], exact=kept["sha256"])
    near = kept.assign(group=groups).groupby("group").filter(lambda rows: rows["sha256"].nunique() > 1)
    spread = near.groupby("group")["split"].nunique()
    across = near[near["group"].isin(spread.index[spread > 1])]
    pairs = across.groupby("group")["split"].agg(lambda splits: "-".join(sorted(set(splits))))
    return {
        "max_bits": MAX_DISTANCE,
        "groups": int(near["group"].nunique()),
        "rows": len(near),
        "across_splits": int(across["group"].nunique()),
        "by_splits": {str(k): int(v) for k, v in pairs.value_counts().sort_index().items()},
        "examples": [
            rows["relpath"].head(4).tolist()
            for _, rows in list(across.groupby("group", sort=False))[:EXAMPLES]
        ],
    }


def source_balance(manifest: pd.DataFrame) -> dict[str, dict[str, dict[str, int]]]:
    """Rows per split and label of each source, for sources that name one (empty otherwise)."""
    named = manifest[manifest["source"] != ""]
    return {
        str(source): {
            split: _counts(rows.loc[rows["split"] == split, "label"], by_name=True)
            for split in SPLITS
            if (rows["split"] == split).any()
        }
        for source, rows in named.groupby("source", sort=True)
    }


def _counts(values: pd.Series, *, by_name: bool = False) -> dict[str, int]:
    counts = values.astype(str).value_counts()
    counts = counts.sort_index() if by_name else counts
    return {str(key): int(value) for key, value in counts.items()}


def _skipped(skipped: pd.DataFrame) -> dict:
    return {
        "count": len(skipped),
        "by_reason": _counts(skipped["reason"]),
        "examples": skipped["relpath"].head(EXAMPLES).tolist(),
    }


def _unreadable(failed: pd.DataFrame) -> dict:
    kinds = failed["error"].str.split(":", n=1).str[0]
    return {
        "count": len(failed),
        "by_kind": _counts(kinds),
        "examples": [
            {"relpath": row.relpath, "error": row.error}
            for row in failed.head(EXAMPLES).itertuples(index=False)
        ],
    }
