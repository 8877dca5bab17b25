"""``deeptrust hashes``: import (bad files rejected whole, with line numbers), export, list, match, hash."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.evidence.pdq import hash_image

from ..evidence.conftest import read_photos
from .conftest import hex_of

runner = CliRunner()


def test_import_list_export_match(tmp_path: Path) -> None:
    photo = read_photos(1)["FAKE"][0]
    image = tmp_path / "upload.png"
    photo.resize((256, 256)).save(image)
    csv = tmp_path / "list.csv"
    csv.write_text(f"hash,label,note\n{hash_image(photo).hex},ai,seen on forum\n{hex_of(2)},real,\n")
    result = runner.invoke(app, ["hashes", "import", str(csv), "--list", "partner-x"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 hashes" in result.output
    listing = runner.invoke(app, ["hashes", "list"])
    assert "partner-x" in listing.output and "Hash lists: 1" in listing.output
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["hashes", "export", "--out", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[1:] == csv.read_text().splitlines()[1:]
    matched = runner.invoke(app, ["hashes", "match", str(image)], env={"COLUMNS": "200"})
    assert matched.exit_code == 0 and "ai" in matched.output and "seen on forum" in matched.output
    hashed = runner.invoke(app, ["hashes", "hash", str(image)])
    assert hashed.output.split()[0] == hash_image(Image.open(image)).hex


def test_bad_csv_exits_2_and_imports_nothing(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(f"{hex_of(1)},ai\n{hex_of(2)},unknown\nnot-a-hash,ai\n")
    result = runner.invoke(app, ["hashes", "import", str(csv), "--list", "x"])
    assert result.exit_code == 2
    assert "line 2: label must be one of ai, real" in result.output and "line 3:" in result.output
    assert "nothing imported" in result.output
    assert "Hash lists: 0" in runner.invoke(app, ["hashes", "list"]).output
    missing = runner.invoke(app, ["hashes", "import", str(tmp_path / "nope.csv"), "--list", "x"])
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_name = runner.invoke(app, ["hashes", "import", str(csv), "--list", "Bad Name!"])
    assert bad_name.exit_code == 2 and "a list name is" in bad_name.output


def test_add_lists_images_with_crop_variants_and_match_names_the_crop(tmp_path: Path) -> None:
    photo = read_photos(1)["FAKE"][0]
    image = tmp_path / "confirmed.png"
    photo.save(image)
    cropped = tmp_path / "cropped.jpg"
    photo.crop((0, 0, 512, 471)).save(cropped, quality=85)  # 8 % off the bottom
    added = runner.invoke(
        app, ["hashes", "add", str(image), "--list", "mine", "--label", "ai", "--note", "seen"]
    )
    assert added.exit_code == 0, added.output
    assert added.output.split()[:2] == [hash_image(photo).hex, "ai"] and "crop variants" in added.output
    listing = runner.invoke(app, ["hashes", "list"], env={"COLUMNS": "200"})
    assert "with crop variants" in listing.output
    matched = runner.invoke(app, ["hashes", "match", str(cropped)], env={"COLUMNS": "250"})
    assert matched.exit_code == 0 and "7 % off the bottom" in matched.output and "seen" in matched.output
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["hashes", "export", "--out", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[1:] == [f"{hash_image(photo).hex},ai,seen"]  # the entry only
    bad = runner.invoke(app, ["hashes", "add", str(image), "--list", "mine", "--label", "fake"])
    assert bad.exit_code == 2 and "label must be one of ai, real" in bad.output
    missing = runner.invoke(
        app, ["hashes", "add", str(tmp_path / "nope.png"), "--list", "mine", "--label", "ai"]
    )
    assert missing.exit_code == 2
