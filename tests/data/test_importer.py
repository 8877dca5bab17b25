from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from deeptrust.data import DataError, ensure_dataset, import_dataset, load_manifest
from deeptrust.data import importer as importer_module
from deeptrust.data.importer import MANIFEST_COLUMNS

from .conftest import write_image, write_labelled

SHARED_DATASETS = Path(__file__).parents[2].parent / "shared" / "datasets"


def _import(src: Path, name: str = "ds", **kwargs) -> importer_module.ImportResult:
    return import_dataset(src, name=name, progress=False, **kwargs)


def test_folder_without_split_gets_a_stratified_seeded_val(tmp_path: Path, home: Path) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 20, "FAKE": 10})

    result = _import(tmp_path / "ds", val_fraction=0.2, seed=1)

    assert result.directory == home / "datasets" / "ds"
    for name in ("manifest.parquet", "excluded.parquet", "report.json", "report.txt"):
        assert (result.directory / name).is_file()
    manifest = result.manifest
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest.groupby(["split", "label"]).size().to_dict() == {
        ("train", "FAKE"): 8,
        ("train", "REAL"): 16,
        ("val", "FAKE"): 2,
        ("val", "REAL"): 4,
    }
    assert result.report["split"]["carved_val"] and result.report["split"]["moved_to_val"] == 6
    assert result.excluded.empty and result.report["counts"]["kept"] == 30
    again = _import(tmp_path / "ds", name="ds2", val_fraction=0.2, seed=1)
    assert again.dataset_hash == result.dataset_hash  # same data, same split
    assert _import(tmp_path / "ds", name="ds3", val_fraction=0.2, seed=2).dataset_hash != result.dataset_hash
    saved = json.loads((result.directory / "report.json").read_text())
    assert saved["dataset_hash"] == result.dataset_hash
    assert "Shortcut check" in (result.directory / "report.txt").read_text()


def test_train_test_folder_with_duplicates_and_a_leak(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    write_labelled(src, {"REAL": 10, "FAKE": 10}, prefix="train")
    write_labelled(src, {"REAL": 4, "FAKE": 4}, prefix="test", seed=1)
    write_image(src / "train" / "REAL" / "zz-copy.jpg", 0 * 100_000 + 1 * 1000 + 3)  # REAL/003
    write_image(src / "train" / "FAKE" / "zz-leak.jpg", 1 * 100_000 + 0 * 1000 + 2)  # test FAKE/002

    result = _import(src, val_fraction=0.1)

    assert result.report["counts"]["excluded_by_reason"] == {
        "unreadable": 0,
        "label_conflict": 0,
        "leak": 1,
        "duplicate": 1,
    }
    excluded = result.excluded.set_index("relpath")["reason"].to_dict()
    assert excluded == {"train/REAL/zz-copy.jpg": "duplicate", "train/FAKE/zz-leak.jpg": "leak"}
    leaking = result.manifest[result.manifest["leak"]]
    assert leaking["relpath"].tolist() == ["test/FAKE/002.jpg"]
    assert set(result.manifest["split"]) == {"train", "val", "test"}
    assert (result.manifest["split"] == "test").sum() == 8  # test stays untouched
    assert result.report["leaks"]["by_pair"] == {"train-test": 1}

    kept = _import(src, name="kept", keep_duplicates=True, keep_leaks=True)
    assert kept.excluded.empty and len(kept.manifest) == 30
    flagged = kept.manifest.set_index("relpath")
    assert flagged.loc["train/REAL/zz-copy.jpg", "duplicate"]
    assert flagged.loc["train/FAKE/zz-leak.jpg", "leak"]
    # the duplicate pair is carved as one: both copies share a split
    assert flagged.loc["train/REAL/003.jpg", "split"] == flagged.loc["train/REAL/zz-copy.jpg", "split"]


def test_unreadable_non_rgb_and_label_conflicts_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    write_labelled(src, {"REAL": 6, "FAKE": 6})
    cut = write_image(src / "REAL" / "cut.jpg", 500, size=(64, 64))
    cut.write_bytes(cut.read_bytes()[:300])
    (src / "FAKE" / "text.jpg").write_text("not an image at all")
    write_image(src / "REAL" / "grey.png", 501, fmt="PNG", mode="L")
    write_image(src / "FAKE" / "alpha.png", 502, fmt="PNG", mode="RGBA")
    write_image(src / "FAKE" / "palette.png", 503, fmt="PNG", mode="P")
    write_image(src / "FAKE" / "same.jpg", 1000)  # same content as REAL/000.jpg
    (src / "FAKE" / "list.txt").write_text("skipped")

    result = _import(src, val_fraction=0)

    report = result.report
    assert report["counts"]["found"] == 18 and report["counts"]["skipped"] == 1
    assert report["unreadable"]["count"] == 2
    assert report["unreadable"]["by_kind"] == {"not_an_image": 1, "truncated": 1}
    assert report["non_rgb"] == {"L": 1, "RGBA": 1, "P": 1}
    assert report["label_conflicts"]["contents"] == 1
    reasons = result.excluded.set_index("relpath")["reason"].to_dict()
    assert reasons == {
        "FAKE/text.jpg": "unreadable",
        "REAL/cut.jpg": "unreadable",
        "FAKE/same.jpg": "label_conflict",
        "REAL/000.jpg": "label_conflict",
    }
    assert result.excluded.set_index("relpath").loc["REAL/cut.jpg", "error"].startswith("truncated")
    assert report["counts"]["kept"] == 14 and set(result.manifest["split"]) == {"train"}


def test_tar_gz_and_csv_sources(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    write_labelled(folder, {"REAL": 3, "FAKE": 3}, prefix="train")
    write_labelled(folder, {"REAL": 2, "FAKE": 2}, prefix="val", seed=1)
    with tarfile.open(tmp_path / "pack.tgz", "w:gz") as tar:
        tar.add(folder, arcname="pack")

    from_tar = _import(tmp_path / "pack.tgz", name="tar")
    assert from_tar.report["source"]["kind"] == "archive"
    assert not from_tar.report["split"]["carved_val"]  # the source has its own val
    assert from_tar.manifest.groupby("split").size().to_dict() == {"train": 6, "val": 4}
    assert all(Path(p).is_file() for p in from_tar.manifest["path"])

    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,source\n"
        + "".join(
            f"pack/train/{label}/00{i}.jpg,{label},gen-{i}\n" for label in ("REAL", "FAKE") for i in range(3)
        )
    )
    from_csv = _import(csv, name="csv", val_fraction=0)
    assert sorted(set(from_csv.manifest["source"])) == ["gen-0", "gen-1", "gen-2"]
    assert from_csv.manifest["path"].map(lambda p: Path(p).is_file()).all()


def test_format_shortcut_warns_and_balanced_does_not(tmp_path: Path) -> None:
    for i in range(12):
        write_image(tmp_path / "bad" / "REAL" / f"{i}.png", i, fmt="PNG")
        write_image(tmp_path / "bad" / "FAKE" / f"{i}.jpg", 100 + i)
        fmt = "PNG" if i % 2 else "JPEG"
        for label, offset in (("REAL", 200), ("FAKE", 300)):
            write_image(tmp_path / "fair" / label / f"{i}.{fmt.lower()}", offset + i, fmt=fmt)

    warned = _import(tmp_path / "bad", name="bad").report["shortcuts"]
    flagged = {e["property"] for e in warned["properties"] if e["warn"]}
    # PNG against JPEG: the container's own facts and the JPEG-only metadata all follow the format.
    assert flagged == {"format", "jpeg_quality", "qtable_hash", "app_segments", "subsampling", "info_keys"}
    assert any(w.startswith("format alone predicts the label") for w in warned["warnings"])
    fair = _import(tmp_path / "fair", name="fair").report["shortcuts"]
    assert fair["warnings"] == [] and len(fair["properties"]) == 8 + 14  # 14 metadata properties


def test_ensure_dataset_reuses_a_matching_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 4, "FAKE": 4})
    first = ensure_dataset(tmp_path / "ds", progress=False)
    assert first.name.startswith("ds-") and len(first.name) == len("ds-") + 8

    scans = []
    real_scan = importer_module.scan_files
    monkeypatch.setattr(importer_module, "scan_files", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    again = ensure_dataset(tmp_path / "ds", progress=False)
    assert scans == [] and again.dataset_hash == first.dataset_hash
    assert ensure_dataset(first.name).dataset_hash == first.dataset_hash
    assert ensure_dataset(first.directory / "manifest.parquet").name == first.name
    assert len(load_manifest(first.name)) == len(load_manifest(first.directory)) == 8

    ensure_dataset(tmp_path / "ds", keep_duplicates=True, progress=False)
    assert scans == [1]  # other flags: imported again
    write_image(tmp_path / "ds" / "REAL" / "new.jpg", 999)
    assert len(ensure_dataset(tmp_path / "ds", keep_duplicates=True, progress=False).manifest) == 9


def test_bad_input_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _import(tmp_path / "missing")
    write_labelled(tmp_path / "ds", {"REAL": 1})
    with pytest.raises(DataError, match="dataset name"):
        _import(tmp_path / "ds", name="../evil")
    with pytest.raises(DataError, match="val_fraction"):
        _import(tmp_path / "ds", val_fraction=1.0)
    with pytest.raises(DataError, match="no imported dataset 'nothing'"):
        load_manifest("nothing")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "A").mkdir()
    (tmp_path / "broken" / "A" / "x.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of the 1 image files"):
        _import(tmp_path / "broken")


@pytest.mark.skipif(not (SHARED_DATASETS / "sd-vs-photos.tar.gz").is_file(), reason="no shared data")
def test_real_subset_of_sd_vs_photos(tmp_path: Path) -> None:
    taken = {"REAL": 0, "FAKE": 0}
    with tarfile.open(SHARED_DATASETS / "sd-vs-photos.tar.gz") as tar:
        for member in tar:
            label = Path(member.name).parent.name
            if member.isfile() and taken.get(label, 10) < 10:
                data = tar.extractfile(member).read()
                (tmp_path / "sd" / label).mkdir(parents=True, exist_ok=True)
                (tmp_path / "sd" / label / Path(member.name).name).write_bytes(data)
                taken[label] += 1
            if min(taken.values()) == 10:
                break

    result = _import(tmp_path / "sd", name="sd-subset")

    manifest = result.manifest
    assert len(manifest) == 20 and result.excluded.empty
    assert set(manifest["format"]) == {"JPEG"} and set(manifest["jpeg_quality"]) == {95}
    assert set(zip(manifest["width"], manifest["height"], strict=True)) == {(512, 512)}
    assert manifest.groupby(["split", "label"]).size().to_dict() == {
        ("train", "FAKE"): 9,
        ("train", "REAL"): 9,
        ("val", "FAKE"): 1,
        ("val", "REAL"): 1,
    }
    assert {e["property"] for e in result.report["shortcuts"]["properties"] if e["constant"]} >= {
        "format",
        "dimensions",
        "jpeg_quality",
    }
