"""Seeded, stratified carving of a validation split out of train, for sources that have none.

Rows with the same content move together (grouped by sha256), so kept duplicates can never sit
on both sides. The result depends only on the rows, the fraction and the seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def carve_validation(table: pd.DataFrame, *, val_fraction: float, seed: int) -> pd.Index:
    """Index of the ``train`` rows to move to another split: ``val_fraction`` of each label's contents.

    Also carves a test split (``import_dataset(test_fraction=...)``) for sources that have none.
    """
    train = table[table["split"] == "train"].sort_values("relpath", kind="stable")
    if train.empty or val_fraction <= 0:
        return train.index[:0]
    contents = (
        train.groupby("sha256", sort=False)
        .agg(label=("label", "first"), first=("relpath", "min"))
        .sort_values("first", kind="stable")
    )
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for label in sorted(contents["label"].unique()):
        members = contents.index[contents["label"] == label]
        take = val_count(len(members), val_fraction)
        chosen.extend(members[rng.permutation(len(members))[:take]])
    return train.index[train["sha256"].isin(chosen)]


def val_count(n: int, val_fraction: float) -> int:
    """Contents of one label that go to val: rounded half up, at least one, never all of them."""
    if n < 2 or val_fraction <= 0:
        return 0
    return min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
