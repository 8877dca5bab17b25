from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from deeptrust.data.cli import app

from .conftest import write_image, write_labelled, write_pack

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that no table cell wraps


def test_import_prints_the_report_and_show_repeats_it(tmp_path: Path, home: Path) -> None:
    write_labelled(tmp_path / "ds", {"FAKE": 6})
    for i in range(6):
        write_image(tmp_path / "ds" / "REAL" / f"p{i}.png", 50 + i, fmt="PNG")
    write_image(tmp_path / "ds" / "FAKE" / "dup.jpg", 0)  # same content as FAKE/000.jpg

    result = runner.invoke(app, ["import", str(tmp_path / "ds"), "--name", "mini", "--seed", "3"])

    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Dataset 'mini'", "Class balance", "Duplicates within a split", "dropped 1"):
        assert text in out
    assert "WARN format alone predicts the label" in out
    assert f"to {home / 'datasets' / 'mini'}\n" in out
    shown = runner.invoke(app, ["show", "mini"])
    assert shown.exit_code == 0 and "Shortcut check" in shown.stdout

    kept = runner.invoke(
        app,
        ["import", str(tmp_path / "ds"), "--name", "kept", "--keep-duplicates", "--workers", "1"],
    )
    assert kept.exit_code == 0 and "kept, flagged" in kept.stdout


def test_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["import", str(tmp_path / "nope"), "--name", "x"])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert "expected [split/]label/*.jpg folders" in missing.output  # not eaten as markup
    (tmp_path / "list.csv").write_text("file,class\na.jpg,REAL\n")
    bad_csv = runner.invoke(app, ["import", str(tmp_path / "list.csv"), "--name", "x"])
    assert bad_csv.exit_code == 2 and "lacks column(s) label, path" in bad_csv.output
    (tmp_path / "data.rar").write_bytes(b"x")
    unknown = runner.invoke(app, ["import", str(tmp_path / "data.rar"), "--name", "x"])
    assert unknown.exit_code == 2 and "unknown file type" in unknown.output
    no_name = runner.invoke(app, ["import", str(tmp_path)])
    assert no_name.exit_code == 2 and "--name" in no_name.output
    assert runner.invoke(app, ["show", "never-imported"]).exit_code == 2


def test_a_manifest_pack_without_split_gets_test_and_val_by_default(tmp_path: Path) -> None:
    write_pack(tmp_path / "pack", {("pets", "REAL"): 10, ("sd", "FAKE"): 10})

    result = runner.invoke(app, ["import", str(tmp_path / "pack"), "--name", "pack"])

    assert result.exit_code == 0, result.output
    assert "(folder, manifest layout)" in result.stdout
    assert "carved from train: 20% of each label and source, seed 1 (4 rows)" in result.stdout
    assert "carved from train: 15% of each label and source, seed 0 (2 rows)" in result.stdout
    assert "Sources (2; 1 generators named)" in result.stdout
