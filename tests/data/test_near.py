"""Near copies: the difference hash survives re-encoding and resizing; groups link only what they should."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deeptrust.data import combine_manifests, import_dataset
from deeptrust.data._near import MAX_DISTANCE, difference_hash, near_duplicate_groups


def smooth(seed: int, size: int = 96) -> Image.Image:
    """A photo-like image: low-frequency random structure, so re-encoding moves few dHash bits."""
    small = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def reencode(img: Image.Image, quality: int, scale: float = 1.0) -> Image.Image:
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def _bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_difference_hash_survives_reencoding_but_tells_pictures_apart() -> None:
    hashes = [difference_hash(smooth(seed)) for seed in range(20)]
    for seed, original in enumerate(hashes):
        assert _bits(original, difference_hash(reencode(smooth(seed), 60, 0.6))) <= MAX_DISTANCE
    assert min(_bits(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]) > 2 * MAX_DISTANCE
    assert len(hashes[0]) == 64


def test_groups_link_near_copies_exact_copies_and_only_across_when_asked() -> None:
    near_a = difference_hash(smooth(1))
    flipped = f"{int(near_a, 16) ^ (1 << 200 | 0b101):064x}"  # three bits apart
    other = difference_hash(smooth(2))
    hashes = pd.Series([near_a, flipped, other, "", other], index=[10, 11, 12, 13, 14])

    groups = near_duplicate_groups(
        hashes, exact=pd.Series(["s0", "s1", "s2", "s2", "s4"], index=hashes.index)
    )
    assert groups.tolist() == [10, 10, 12, 12, 12]  # 13 has no hash but the sha256 of 12
    across = near_duplicate_groups(hashes, across=pd.Series(["a", "a", "a", "b", "b"]))
    assert across.tolist() == [10, 11, 12, 13, 12]  # 10-11 are both in "a": not linked
    assert near_duplicate_groups(pd.Series(["0" * 64, "0" * 63 + "1"])).tolist() == [0, 1]  # flat images
    with pytest.raises(ValueError, match=r"0\.\.64 bits"):
        near_duplicate_groups(hashes, max_distance=65)


def _save(img: Image.Image, path: Path, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=quality)


def test_import_reports_near_copies_across_splits_without_dropping(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(4):
        _save(smooth(10 + i), root / "train" / "REAL" / f"{i}.jpg")
        _save(smooth(20 + i), root / "train" / "FAKE" / f"{i}.jpg")
    _save(reencode(smooth(10), 70), root / "test" / "REAL" / "copy.jpg", quality=70)
    _save(smooth(30), root / "test" / "FAKE" / "x.jpg")

    result = import_dataset(root, name="ds", val_fraction=0, progress=False)

    near = result.report["near_duplicates"]
    assert (near["groups"], near["rows"], near["across_splits"]) == (1, 2, 1)
    assert near["by_splits"] == {"test-train": 1} and sorted(near["examples"][0]) == [
        "test/REAL/copy.jpg",
        "train/REAL/0.jpg",
    ]
    assert len(result.manifest) == 10 and result.manifest["dhash"].str.len().eq(64).all()
    assert "Near copies" in (result.directory / "report.txt").read_text()


def test_combine_drops_a_near_copy_from_train_of_another_dataset(tmp_path: Path) -> None:
    for i in range(3):
        _save(smooth(40 + i), tmp_path / "a" / "REAL" / f"{i}.jpg")
        _save(smooth(50 + i), tmp_path / "a" / "FAKE" / f"{i}.jpg")
    _save(reencode(smooth(40), 60, 0.75), tmp_path / "b" / "test" / "REAL" / "resized.jpg", quality=60)
    _save(smooth(60), tmp_path / "b" / "test" / "FAKE" / "y.jpg")
    _save(smooth(61), tmp_path / "b" / "train" / "FAKE" / "z.jpg")
    _save(smooth(62), tmp_path / "b" / "train" / "REAL" / "w.jpg")
    a = import_dataset(tmp_path / "a", name="a", val_fraction=0, progress=False).manifest
    b = import_dataset(tmp_path / "b", name="b", val_fraction=0, progress=False).manifest

    combined = combine_manifests({"a": a, "b": b})

    [row] = combined.dropped.itertuples(index=False)
    assert (row.dataset, row.relpath, row.reason, row.match) == ("a", "REAL/0.jpg", "leak", "near")
    assert (row.kept_dataset, row.kept_relpath) == ("b", "test/REAL/resized.jpg")
    assert combined.report["near_matches"] == 1 and len(combined.manifest) == 9
    exact_only = combine_manifests({"a": a, "b": b}, near_duplicates=False)
    assert exact_only.dropped.empty and len(exact_only.manifest) == 10
