from __future__ import annotations

from pathlib import Path

import pytest

from deeptrust.data.errors import DataError
from deeptrust.data.sources import read_source, source_fingerprint

from .conftest import write_image, write_labelled


def test_label_folders_without_split(tmp_path: Path) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 3, "FAKE": 2})
    (tmp_path / "ds" / "README.txt").write_text("about")
    (tmp_path / "ds" / "REAL" / "notes.md").write_text("notes")

    source = read_source(tmp_path / "ds", cache_dir=tmp_path / "cache")

    assert source.kind == "folder" and source.layout == "labels"
    assert source.files["label"].value_counts().to_dict() == {"REAL": 3, "FAKE": 2}
    assert set(source.files["split"]) == {""}
    assert source.files["relpath"].iloc[0] == "FAKE/000.jpg"
    assert Path(source.files["path"].iloc[0]).is_absolute()
    assert sorted(source.skipped["relpath"]) == ["README.txt", "REAL/notes.md"]
    assert set(source.skipped["reason"]) == {
        "extension .txt is not an image type",
        "extension .md is not an image type",
    }


def test_split_folders_normalise_names_and_unwrap_a_wrapper(tmp_path: Path) -> None:
    root = tmp_path / "archive_root"
    write_labelled(root / "wrapper", {"REAL": 1, "FAKE": 1}, prefix="train")
    write_labelled(root / "wrapper", {"REAL": 1, "FAKE": 1}, prefix="Validation", seed=1)
    write_labelled(root / "wrapper", {"REAL": 2}, prefix="test", seed=2)
    write_image(root / "wrapper" / "train" / "stray.jpg", 99)
    (root / "wrapper" / "train" / ".DS_Store").write_bytes(b"\0")

    source = read_source(root, cache_dir=tmp_path / "cache")

    assert source.layout == "splits"
    assert source.files.groupby("split").size().to_dict() == {"test": 2, "train": 2, "val": 2}
    assert source.files["relpath"].str.startswith("wrapper/").all()
    assert dict(zip(source.skipped["relpath"], source.skipped["reason"], strict=True)) == {
        "wrapper/train/.DS_Store": "hidden file or folder",
        "wrapper/train/stray.jpg": "not inside a label folder",
    }


def test_mixed_split_and_label_folders_is_an_error(tmp_path: Path) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 1}, prefix="train")
    write_labelled(tmp_path / "ds", {"FAKE": 1})
    with pytest.raises(DataError, match=r"mixes split folders \(train\) with other folders \(FAKE\)"):
        read_source(tmp_path / "ds", cache_dir=tmp_path / "cache")


def test_csv_with_split_and_source_columns(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "a.jpg", 1)
    write_image(tmp_path / "imgs" / "b.png", 2, fmt="PNG")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,split,source\n"
        "imgs/a.jpg,REAL,train,coco\n"
        "imgs/b.png,FAKE,valid,sd14\n"
        "imgs/c.txt,FAKE,test,sd14\n"
    )

    source = read_source(csv, cache_dir=tmp_path / "cache")

    assert source.layout == "csv"
    assert source.files[["relpath", "label", "split", "source"]].values.tolist() == [
        ["imgs/a.jpg", "REAL", "train", "coco"],
        ["imgs/b.png", "FAKE", "val", "sd14"],
    ]
    assert source.files["path"].iloc[0] == str(tmp_path / "imgs" / "a.jpg")
    assert source.skipped["relpath"].tolist() == ["imgs/c.txt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,label\na.jpg,REAL\n", "lacks column.*path"),
        ("path,label\na.jpg,\n", "empty 'label' on line.*2"),
        ("path,label,split\na.jpg,REAL,holdout\n", "holdout"),
        ("path,label,split\na.jpg,REAL,train\nb.jpg,FAKE,\n", "(empty)"),
    ],
)
def test_bad_csv_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text(text)
    with pytest.raises(DataError, match=message):
        read_source(csv, cache_dir=tmp_path / "cache")


def test_missing_empty_and_unknown_sources_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_source(tmp_path / "nope", cache_dir=tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("x")
    with pytest.raises(DataError, match=r"no image files found .*1 other files skipped"):
        read_source(tmp_path / "empty", cache_dir=tmp_path / "cache")
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown file type"):
        read_source(tmp_path / "data.zip", cache_dir=tmp_path / "cache")


def test_fingerprint_changes_with_folder_content(tmp_path: Path) -> None:
    write_labelled(tmp_path / "ds", {"REAL": 2})
    before = source_fingerprint(tmp_path / "ds")
    assert source_fingerprint(tmp_path / "ds") == before
    write_image(tmp_path / "ds" / "REAL" / "new.jpg", 7)
    assert source_fingerprint(tmp_path / "ds") != before
