"""Seeded, stratified carving of a validation (or test) split out of train, for sources that have none.

Strata are (label, source): a pack of many sources keeps every source in every split, in proportion,
so per-source metrics exist on val and test. Rows without a source form one stratum per label, which
is exactly the label-only split of earlier imports (same seed, same rows moved). Rows with the same
content move together (grouped by sha256), so kept duplicates can never sit on both sides. The result
depends only on the rows, the fraction and the seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def carve_validation(table: pd.DataFrame, *, val_fraction: float, seed: int) -> pd.Index:
    """Index of the ``train`` rows to move to another split: ``val_fraction`` of each stratum's contents.

    A stratum is a (label, source) pair; ``table`` without a ``source`` column is split by label.
    Also carves a test split (``import_dataset(test_fraction=...)``) for sources that have none.
    """
    train = table[table["split"] == "train"].sort_values("relpath", kind="stable")
    if train.empty or val_fraction <= 0:
        return train.index[:0]
    sources = train.get("source", "")
    contents = (
        train.assign(stratum_source=sources)
        .groupby("sha256", sort=False)
        .agg(label=("label", "first"), source=("stratum_source", "first"), first=("relpath", "min"))
        .sort_values("first", kind="stable")
    )
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for label, source in sorted(set(zip(contents["label"], contents["source"], strict=True))):
        members = contents.index[(contents["label"] == label) & (contents["source"] == source)]
        take = val_count(len(members), val_fraction)
        chosen.extend(members[rng.permutation(len(members))[:take]])
    return train.index[train["sha256"].isin(chosen)]


def val_count(n: int, val_fraction: float) -> int:
    """Contents of one label that go to val: rounded half up, at least one, never all of them."""
    if n < 2 or val_fraction <= 0:
        return 0
    return min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
