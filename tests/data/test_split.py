from __future__ import annotations

import pandas as pd

from deeptrust.data.split import carve_validation, val_count


def _train(n_real: int, n_fake: int) -> pd.DataFrame:
    rows = [(f"REAL/{i:03d}.jpg", "REAL", f"r{i}") for i in range(n_real)]
    rows += [(f"FAKE/{i:03d}.jpg", "FAKE", f"f{i}") for i in range(n_fake)]
    table = pd.DataFrame(rows, columns=["relpath", "label", "sha256"])
    table["split"] = "train"
    return table


def test_stratified_and_deterministic() -> None:
    table = _train(40, 20)
    moved = carve_validation(table, val_fraction=0.25, seed=3)
    assert table.loc[moved, "label"].value_counts().to_dict() == {"REAL": 10, "FAKE": 5}
    shuffled = table.sample(frac=1, random_state=1)
    again = carve_validation(shuffled, val_fraction=0.25, seed=3)
    assert sorted(table.loc[moved, "relpath"]) == sorted(shuffled.loc[again, "relpath"])
    other = carve_validation(table, val_fraction=0.25, seed=4)
    assert set(moved) != set(other)


def test_same_content_moves_together() -> None:
    table = _train(30, 0)
    table.loc[1:9, "sha256"] = "same"  # nine copies of one content
    moved = set(carve_validation(table, val_fraction=0.5, seed=0))
    copies = set(table.index[table["sha256"] == "same"])
    assert copies <= moved or not copies & moved


def test_only_train_is_carved_and_zero_fraction_moves_nothing() -> None:
    table = pd.concat([_train(10, 10), _train(10, 10).assign(split="test")], ignore_index=True)
    moved = carve_validation(table, val_fraction=0.1, seed=0)
    assert set(table.loc[moved, "split"]) == {"train"} and len(moved) == 2
    assert len(carve_validation(table, val_fraction=0.0, seed=0)) == 0


def test_val_count() -> None:
    assert [val_count(n, 0.1) for n in (0, 1, 2, 5, 14, 15, 100)] == [0, 0, 1, 1, 1, 2, 10]
    assert val_count(3, 0.9) == 2  # never the whole class
