"""Folders and archives described by a manifest CSV (multigen's layout), and their splits."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pandas as pd
import pytest

from deeptrust.data import ensure_dataset, import_dataset, load_manifest
from deeptrust.data import importer as importer_module
from deeptrust.data.importer import MANIFEST_COLUMNS, MANIFEST_FILE, resolve_fractions
from deeptrust.data.sources import read_source

from .conftest import write_image, write_pack

SHARED_DATASETS = Path(__file__).parents[2].parent / "shared" / "datasets"
PACK = {
    ("news", "REAL"): 12,
    ("pets", "REAL"): 30,
    ("dalle", "FAKE"): 25,
    ("mj", "FAKE"): 8,
    ("mixed", "REAL"): 6,
    ("mixed", "FAKE"): 6,
}


def _archive(tmp_path: Path) -> Path:
    write_pack(tmp_path / "src" / "pack", PACK)
    archive = tmp_path / "pack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "pack", arcname="pack")
    return archive


def test_a_folder_with_a_manifest_is_read_through_it(tmp_path: Path) -> None:
    root = write_pack(tmp_path / "pack", {("a", "REAL"): 2, ("b", "FAKE"): 2})
    write_image(root / "a" / "REAL" / "unlisted.jpg", 7)
    with (root / "manifest.csv").open("a") as csv:
        csv.write("../outside.jpg,REAL,a,,1,PNG,x\n")

    source = read_source(root, cache_dir=tmp_path / "cache")

    assert (source.kind, source.layout) == ("folder", "manifest")
    files = source.files.set_index("relpath")
    assert sorted(files.index) == ["a/REAL/000.jpg", "a/REAL/001.jpg", "b/FAKE/000.jpg", "b/FAKE/001.jpg"]
    assert files.loc["b/FAKE/001.jpg", ["label", "source", "generator"]].tolist() == ["FAKE", "b", "gen-b"]
    assert files.loc["a/REAL/000.jpg", "generator"] == ""
    assert "orig_width" not in source.files and "licence" not in source.files  # provenance only
    skipped = dict(zip(source.skipped["relpath"], source.skipped["reason"], strict=True))
    assert skipped == {
        "a/REAL/unlisted.jpg": "not listed in manifest.csv",
        "../outside.jpg": "points outside the dataset folder",
    }


def test_archive_with_manifest_imports_source_and_generator_with_every_source_in_each_split(
    tmp_path: Path,
) -> None:
    result = import_dataset(
        _archive(tmp_path), name="pack", val_fraction=None, test_fraction=None, progress=False
    )

    manifest = result.manifest
    assert list(manifest.columns) == MANIFEST_COLUMNS and len(manifest) == sum(PACK.values())
    assert result.report["source"]["layout"] == "manifest"
    assert manifest["relpath"].str.startswith("pack/").all()
    fakes = manifest[manifest["label"] == "FAKE"]
    assert (fakes["generator"] == "gen-" + fakes["source"]).all()
    assert (manifest.loc[manifest["label"] == "REAL", "generator"] == "").all()
    # No split in the pack: test 0.2, then val 0.15 of the rest, stratified by (label, source).
    assert result.report["options"]["test_fraction"] == 0.2
    assert result.report["options"]["val_fraction"] == 0.15
    counts = manifest.groupby(["source", "label", "split"]).size().unstack(fill_value=0)
    assert (counts[["train", "val", "test"]] > 0).all().all(), counts
    assert counts.loc[("pets", "REAL")].to_dict() == {"test": 6, "train": 20, "val": 4}
    assert counts.loc[("mj", "FAKE")].to_dict() == {"test": 2, "train": 5, "val": 1}
    assert set(result.report["sources"]) == {"news", "pets", "dalle", "mj", "mixed"}
    assert result.report["generators"] == {"gen-dalle": 25, "gen-mj": 8, "gen-mixed": 6}
    again = import_dataset(
        _archive(tmp_path / "again"), name="pack2", val_fraction=None, test_fraction=None, progress=False
    )
    assert again.dataset_hash == result.dataset_hash  # seeded: same content, same split


def test_label_only_split_is_unchanged_for_sources_without_a_source_column(tmp_path: Path) -> None:
    """Stratifying by (label, source) with empty sources moves exactly the rows a label split moved."""
    from deeptrust.data.split import carve_validation

    rows = [(f"{label}/{i:03d}.jpg", f"{label}{i}", label) for label in ("REAL", "FAKE") for i in range(37)]
    table = pd.DataFrame(rows, columns=["relpath", "sha256", "label"]).assign(split="train")
    with_empty_source = carve_validation(table.assign(source=""), val_fraction=0.2, seed=5)
    without_column = carve_validation(table, val_fraction=0.2, seed=5)
    assert list(with_empty_source) == list(without_column) and len(without_column) == 14
    by_source = carve_validation(
        table.assign(source=[("a" if i % 4 else "b") for i in range(len(table))]), val_fraction=0.2, seed=5
    )
    assert set(by_source) != set(without_column)


def test_unset_fractions_follow_the_source_and_are_reused(tmp_path: Path, monkeypatch) -> None:
    assert resolve_fractions(None, None, []) == (0.15, 0.2)
    assert resolve_fractions(None, None, ["train"]) == (0.15, 0.2)
    assert resolve_fractions(None, None, ["test", "train"]) == (0.1, 0.0)
    assert resolve_fractions(0.3, None, ["train", "val"]) == (0.3, 0.0)
    archive = _archive(tmp_path)
    first = ensure_dataset(archive, name="pack", val_fraction=None, test_fraction=None, progress=False)
    scans = []
    real_scan = importer_module.scan_files
    monkeypatch.setattr(importer_module, "scan_files", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    same = ensure_dataset(archive, name="pack", val_fraction=0.15, test_fraction=0.2, progress=False)
    assert scans == [] and same.dataset_hash == first.dataset_hash  # None resolved to the same split
    ensure_dataset(archive, name="pack", val_fraction=0.3, test_fraction=None, progress=False)
    assert scans == [1]


def test_manifests_from_before_the_generator_column_still_load(tmp_path: Path, home: Path) -> None:
    write_pack(tmp_path / "pack", {("a", "REAL"): 3, ("b", "FAKE"): 3})
    result = import_dataset(tmp_path / "pack", name="old", val_fraction=0.3, progress=False)
    path = result.directory / MANIFEST_FILE
    old_columns = [c for c in MANIFEST_COLUMNS if c not in importer_module.ADDED_COLUMNS]
    pd.read_parquet(path)[old_columns].to_parquet(path, index=False)
    excluded = result.directory / "excluded.parquet"
    pd.read_parquet(excluded)[[*old_columns, "reason", "error"]].to_parquet(excluded, index=False)

    manifest = load_manifest("old")

    assert set(MANIFEST_COLUMNS) <= set(manifest.columns)
    assert (manifest["generator"] == "").all() and (manifest["icc"] == "").all()
    assert ensure_dataset("old").manifest["generator"].eq("").all()
    assert "generator" in ensure_dataset("old").excluded


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATASETS / "multigen.tar.gz").is_file(), reason="no shared multigen pack")
def test_real_multigen_pack(tmp_path: Path) -> None:
    result = import_dataset(
        SHARED_DATASETS / "multigen.tar.gz", name="multigen", val_fraction=None, test_fraction=None
    )
    manifest = result.manifest
    listed = pd.read_csv(Path(result.report["source"]["root"]) / "multigen" / "manifest.csv")
    assert len(manifest) + result.report["counts"]["excluded"] == len(listed)
    assert set(manifest["source"]) == set(listed["source"])
    assert (manifest.loc[manifest["label"] == "FAKE", "generator"] != "").all()
    per_source = manifest.groupby("source")["split"].nunique()
    assert (per_source == 3).all(), per_source[per_source < 3]
    constant = {e["property"] for e in result.report["shortcuts"]["properties"] if e["constant"]}
    assert {"format", "dimensions", "jpeg_quality", "subsampling", "exif", "icc"} <= constant
