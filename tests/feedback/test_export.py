"""Export of reviewed items, read back by the dataset importer as a clean ImageFolder."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.data import import_dataset, load_manifest
from deeptrust.feedback import FeedbackError, FeedbackStore

from .conftest import image_bytes

runner = CliRunner(env={"COLUMNS": "200"})


def reviewed_queue(store: FeedbackStore) -> dict[str, str]:
    """Six REAL and six FAKE reviewed images plus pending ones; returns sha256 -> expected label."""
    expected: dict[str, str] = {}
    for seed in range(12):
        fmt = "PNG" if seed % 4 == 0 else "JPEG"
        if seed % 2:  # a user flag, approved: the user's label wins
            item = store.add_feedback(
                image_bytes(seed, fmt=fmt), predicted_label="FAKE", corrected_label="REAL", p_ai=0.7,
                model_version="1.0",
            )  # fmt: skip
            store.review(item.id, "approve", reviewer="mod")
        else:  # a borderline image, relabelled by the moderator
            item = store.add_borderline(
                image_bytes(seed, fmt=fmt), predicted_label="REAL", p_ai=0.45, threshold=0.5,
                model_name="photos", model_version="1.0",
            )  # fmt: skip
            store.review(item.id, "relabel", label="FAKE", reviewer="mod")
        expected[item.sha256] = "REAL" if seed % 2 else "FAKE"
    for seed in range(100, 103):  # pending: never exported
        store.add_borderline(
            image_bytes(seed), predicted_label="FAKE", p_ai=0.55, threshold=0.5, model_name="m",
            model_version="1.0",
        )  # fmt: skip
    return expected


def test_exported_folder_imports_cleanly_with_the_final_labels(store: FeedbackStore, tmp_path: Path) -> None:
    expected = reviewed_queue(store)
    out = tmp_path / "export"

    result = store.export_imagefolder(out)

    assert result.counts == {"FAKE": 6, "REAL": 6} and result.total == 12
    assert (result.missing, result.conflicts) == (0, 0)
    assert sorted(p.parent.name for p in out.rglob("*.*")).count("REAL") == 6
    imported = runner.invoke(app, ["data", "import", str(out), "--name", "fb", "--workers", "1"])
    assert imported.exit_code == 0, imported.output
    manifest = load_manifest("fb")
    assert dict(zip(manifest["sha256"], manifest["label"], strict=True)) == expected
    with pytest.raises(FeedbackError, match="not empty"):
        store.export_imagefolder(out)


def test_exported_tar_gz_imports_cleanly(store: FeedbackStore, tmp_path: Path) -> None:
    expected = reviewed_queue(store)
    archive = tmp_path / "out" / "feedback.tar.gz"

    result = store.export_tar_gz(archive)

    assert result.counts == {"FAKE": 6, "REAL": 6}
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert len(names) == 12 and all(name.split("/")[0] in ("REAL", "FAKE") for name in names)
    imported = import_dataset(archive, name="fb-tar", workers=1, progress=False)
    assert imported.excluded.empty
    assert dict(zip(imported.manifest["sha256"], imported.manifest["label"], strict=True)) == expected

    buffer = io.BytesIO()  # the service streams the export from an open file
    assert store.export_tar_gz(buffer).total == 12
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        assert sorted(tar.getnames()) == sorted(names)


def test_export_uses_the_latest_review_and_skips_missing_images(store: FeedbackStore, tmp_path: Path) -> None:
    data = image_bytes(1)
    first = store.add_feedback(
        data, predicted_label="FAKE", corrected_label="REAL", p_ai=0.8, model_version="1"
    )
    second = store.add_feedback(
        data, predicted_label="FAKE", corrected_label="REAL", p_ai=0.8, model_version="1"
    )
    store.review(first.id, "approve", reviewer="a")
    store.review(second.id, "relabel", label="FAKE", reviewer="b")
    gone = store.add_feedback(image_bytes(2), predicted_label="FAKE", corrected_label="REAL", p_ai=0.8,
                              model_version="1")  # fmt: skip
    store.review(gone.id, "approve", reviewer="a")
    store.image_file(gone).unlink()

    result = store.export_imagefolder(tmp_path / "out", statuses=["approved", "relabelled"])

    assert (result.counts, result.missing, result.conflicts) == ({"FAKE": 1}, 1, 1)
    assert [p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").rglob("*.*")] == ["FAKE"]
    only_approved = store.export_imagefolder(tmp_path / "approved", statuses=["approved"])
    assert (only_approved.counts, only_approved.missing) == ({"REAL": 1}, 1)
    with pytest.raises(FeedbackError, match="pending items have no final label"):
        store.export_imagefolder(tmp_path / "p", statuses=["pending"])
    with pytest.raises(FeedbackError, match="export status must be one of"):
        store.export_tar_gz(tmp_path / "x.tar.gz", statuses=["done"])


def test_empty_export_writes_an_empty_folder(store: FeedbackStore, tmp_path: Path) -> None:
    result = store.export_imagefolder(tmp_path / "none")
    assert result.total == 0 and (tmp_path / "none").is_dir()
