"""Several imported datasets combined into one training set, de-duplicated without leakage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from deeptrust.data import DataError, combine_manifests, ensure_combined, import_dataset
from deeptrust.data.importer import MANIFEST_COLUMNS

from .conftest import write_image, write_labelled, write_pack


def _rows(dataset: str, rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A minimal manifest: (relpath, sha256, label) rows with their split in the relpath's top folder."""
    table = pd.DataFrame(rows, columns=["relpath", "sha256", "label"])
    table["split"] = table["relpath"].str.split("/").str[0]
    table["path"] = "/data/" + dataset + "/" + table["relpath"]
    return table


def test_a_copy_in_two_datasets_is_kept_once_in_the_most_trusted_split() -> None:
    a = _rows("a", [("train/REAL/1.jpg", "s1", "REAL"), ("train/FAKE/2.jpg", "s2", "FAKE"),
                    ("val/REAL/3.jpg", "s3", "REAL"), ("train/REAL/4.jpg", "s4", "REAL")])  # fmt: skip
    b = _rows("b", [("test/REAL/x.jpg", "s1", "REAL"), ("train/FAKE/y.jpg", "s2", "FAKE"),
                    ("train/REAL/z.jpg", "s3", "REAL"), ("train/FAKE/w.jpg", "s4", "FAKE"),
                    ("train/FAKE/v.jpg", "s5", "FAKE")])  # fmt: skip

    combined = combine_manifests({"a": a, "b": b}, name="both")

    kept = combined.manifest.set_index("sha256")
    assert list(combined.manifest.columns) == [*MANIFEST_COLUMNS, "dataset"]
    # s1: a's train copy would leak into b's test -> b's test copy stays; s3: val beats train.
    assert kept.loc["s1", ["dataset", "split"]].tolist() == ["b", "test"]
    assert kept.loc["s3", ["dataset", "split"]].tolist() == ["a", "val"]
    assert kept.loc["s2", "dataset"] == "a"  # same split in both: the dataset listed first
    assert "s4" not in kept.index  # REAL in a, FAKE in b: dropped everywhere
    assert kept.loc["s5", "dataset"] == "b" and len(kept) == 4
    assert combined.manifest["sha256"].is_unique
    dropped = combined.dropped.set_index(["dataset", "relpath"])
    assert dropped.loc[("a", "train/REAL/1.jpg"), ["reason", "kept_dataset"]].tolist() == ["leak", "b"]
    assert dropped.loc[("b", "train/REAL/z.jpg"), "reason"] == "leak"
    assert dropped.loc[("b", "train/FAKE/y.jpg"), ["reason", "kept_relpath"]].tolist() == [
        "duplicate",
        "train/FAKE/2.jpg",
    ]
    assert sorted(dropped.index[dropped["reason"] == "label_conflict"]) == [
        ("a", "train/REAL/4.jpg"),
        ("b", "train/FAKE/w.jpg"),
    ]
    report = combined.report
    assert report["dropped"] == {"label_conflict": 2, "leak": 2, "duplicate": 1}
    assert report["datasets"] == {"a": {"rows": 4, "kept": 2}, "b": {"rows": 5, "kept": 2}}
    assert report["dropped_by_pair"] == {"a -> b": 1, "b -> a": 2}
    assert combined.manifest["generator"].eq("").all()  # old-style manifests get an empty generator
    swapped = combine_manifests({"b": b, "a": a})
    assert swapped.manifest.set_index("sha256").loc["s2", "dataset"] == "b"
    assert swapped.dataset_hash == combined.dataset_hash  # same content, labels and splits


def test_real_imports_combine_with_provenance(tmp_path: Path) -> None:
    write_pack(tmp_path / "pack", {("pets", "REAL"): 10, ("sd", "FAKE"): 10})
    write_labelled(tmp_path / "photos", {"REAL": 6, "FAKE": 6}, seed=3)
    shutil.copy(tmp_path / "pack" / "pets" / "REAL" / "000.jpg", tmp_path / "photos" / "REAL" / "copy.jpg")
    multigen = {"source": str(tmp_path / "pack"), "name": "mg"}
    photos = {"source": str(tmp_path / "photos"), "name": "ph", "test_fraction": 0.2}

    combined = ensure_combined([multigen, photos], name="mix", progress=False)

    manifest = combined.manifest
    assert manifest["sha256"].is_unique
    assert manifest.groupby("dataset").size().to_dict() == {"mg": 20, "ph": 12}
    assert set(manifest.loc[manifest["dataset"] == "mg", "source"]) == {"pets", "sd"}
    assert set(manifest.loc[manifest["dataset"] == "ph", "source"]) == {""}
    assert len(combined.dropped) == 1 and combined.dropped["dataset"].tolist() == ["ph"]
    assert [part["name"] for part in combined.parts] == ["mg", "ph"]
    assert combined.parts[1]["options"]["test_fraction"] == 0.2
    assert combined.parts[0]["options"]["test_fraction"] == 0.2  # unset: the split-less default
    assert (
        combined.parts[1]["hash"]
        == import_dataset(
            tmp_path / "photos", name="ph2", val_fraction=0.15, test_fraction=0.2, progress=False
        ).dataset_hash
    )
    with pytest.raises(DataError, match="listed twice"):
        ensure_combined([multigen, multigen], progress=False)


def test_training_reads_a_combined_config(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from deeptrust.settings import get_settings
    from deeptrust.train.config import TrainConfig
    from deeptrust.train.loop import prepare_data

    write_pack(tmp_path / "pack", {("pets", "REAL"): 8, ("sd", "FAKE"): 8})
    for i in range(8):
        write_image(tmp_path / "photos" / "REAL" / f"{i}.jpg", 900 + i, size=(24, 24))
        write_image(tmp_path / "photos" / "FAKE" / f"{i}.jpg", 950 + i, size=(24, 24))
    sources = [{"source": str(tmp_path / "pack"), "name": "mg"}, {"source": str(tmp_path / "photos")}]
    config = TrainConfig.model_validate({"name": "mix", "data": {"sources": sources}})

    data = prepare_data(config, get_settings(), show=False)

    rows = pd.concat([data["train"].rows, data["val"].rows])
    assert set(rows["dataset"]) == {"mg", data["dataset"].parts[1]["name"]}
    assert data["dataset"].manifest["sha256"].is_unique and data["class_names"] == ["FAKE", "REAL"]
    with pytest.raises(ValueError, match="exactly one of `source`"):
        TrainConfig.model_validate({"name": "x", "data": {"source": "a", "sources": sources}})
    assert TrainConfig.model_validate({"name": "x", "data": {"source": "a"}}).data.sources == ()
