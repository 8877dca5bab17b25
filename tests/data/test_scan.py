from __future__ import annotations

from pathlib import Path

import pytest

from deeptrust.data import scan
from deeptrust.data.scan import SCAN_COLUMNS, scan_file, scan_files

from .conftest import write_image


def _facts(path: Path) -> dict:
    return dict(zip(SCAN_COLUMNS, scan_file(str(path)), strict=True))


def test_jpeg_facts(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.jpg", 1, size=(20, 10), quality=80, exif=True)
    facts = _facts(path)
    assert facts["error"] == ""
    assert facts["bytes"] == path.stat().st_size
    assert (facts["format"], facts["width"], facts["height"], facts["mode"]) == (
        "JPEG",
        20,
        10,
        "RGB",
    )
    assert facts["exif"] is True
    assert facts["jpeg_quality"] == 80
    assert len(facts["qtable_hash"]) == 12
    assert len(facts["sha256"]) == 64


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_png_modes_are_kept_verbatim(tmp_path: Path, mode: str) -> None:
    facts = _facts(write_image(tmp_path / "a.png", 2, fmt="PNG", mode=mode))
    assert (facts["format"], facts["mode"], facts["error"]) == ("PNG", mode, "")
    assert (facts["jpeg_quality"], facts["qtable_hash"], facts["exif"]) == (-1, "", False)


def test_truncated_jpeg_is_unreadable(tmp_path: Path) -> None:
    path = write_image(tmp_path / "cut.jpg", 3, size=(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    facts = _facts(path)
    assert facts["error"].startswith("truncated: ")
    assert facts["format"] == "" and facts["sha256"] != ""


def test_not_an_image_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "fake.jpg").write_bytes(b"this is text, not a JPEG")
    assert _facts(tmp_path / "fake.jpg")["error"] == "not_an_image: cannot identify an image in 24 bytes"
    assert _facts(tmp_path / "absent.jpg")["error"].startswith("missing: ")


def test_pixel_cap(tmp_path: Path) -> None:
    path = write_image(tmp_path / "big.png", 4, fmt="PNG", size=(40, 40))
    row = dict(zip(SCAN_COLUMNS, scan_file(str(path), max_pixels=1000), strict=True))
    assert row["error"] == "too_large: 40x40 is over the cap of 1,000"


def test_pool_gives_the_same_rows_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(write_image(tmp_path / f"{i}.jpg", i)) for i in range(12)]
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    paths.insert(5, str(tmp_path / "bad.jpg"))
    serial = scan_files(paths, workers=1, progress=False, max_pixels=10**6)
    monkeypatch.setattr(scan, "SERIAL_BELOW", 0)
    monkeypatch.setattr(scan, "CHUNKSIZE", 4)
    pooled = scan_files(paths, workers=2, progress=False, max_pixels=10**6)
    assert pooled.equals(serial)
    assert serial["error"].ne("").tolist() == [i == 5 for i in range(13)]
    assert serial["bytes"].dtype == "int64" and serial["exif"].dtype == bool
