"""scripts/contact_sheet.py: an evaluation's worst errors as one JPEG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "contact_sheet.py"


def run(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_each_error_becomes_a_captioned_tile_and_a_missing_file_a_grey_one(tmp_path: Path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (300, 100), "red").save(red)
    errors = [
        {"path": str(red), "label": "REAL", "p_ai": 0.97, "source": "pets"},
        {"path": str(tmp_path / "gone.jpg"), "label": "FAKE", "p_ai": 0.02, "source": "sdxl"},
    ] * 3
    (tmp_path / "e.json").write_text(json.dumps({"worst_errors": errors}))
    done = run(tmp_path / "e.json", tmp_path / "sheet.jpg")
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "sheet.jpg") as sheet:
        assert sheet.size == (4 * 192, 2 * (192 + 30))  # 6 tiles: 4 columns, 2 rows
        assert sheet.getpixel((96, 96))[0] > 200 and sheet.getpixel((96, 96))[1] < 60  # red, letterboxed
        r, g, b = sheet.getpixel((192 + 96, 40))
        assert abs(g - b) < 10
        assert abs(r - g) < 10 and 100 < r < 160  # the missing image: grey


def test_an_evaluation_without_errors_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(json.dumps({"accuracy": 1.0}))
    done = run(tmp_path / "e.json", tmp_path / "sheet.jpg")
    assert done.returncode != 0 and "lists no worst_errors" in done.stderr
    assert not (tmp_path / "sheet.jpg").exists()
