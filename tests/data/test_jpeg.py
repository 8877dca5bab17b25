from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from deeptrust.data._jpeg import estimate_quality, hash_tables

from .conftest import write_image


@pytest.mark.parametrize("quality", [10, 49, 50, 75, 90, 95, 100])
def test_quality_estimate_matches_the_encoder(tmp_path: Path, quality: int) -> None:
    path = write_image(tmp_path / f"q{quality}.jpg", 1, quality=quality)
    with Image.open(path) as img:
        assert estimate_quality(img.quantization) == quality


def test_table_hash_tells_qualities_apart(tmp_path: Path) -> None:
    hashes = set()
    for quality in (75, 75, 95):
        with Image.open(write_image(tmp_path / f"{quality}.jpg", quality, quality=quality)) as img:
            hashes.add(hash_tables(img.quantization))
    assert len(hashes) == 2
    assert all(len(h) == 12 for h in hashes)


def test_no_tables() -> None:
    assert estimate_quality({}) == -1
    assert hash_tables({}) == ""
