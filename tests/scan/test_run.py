"""scan_images end to end: every source kind into every format, resume, duplicates, report."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from deeptrust.scan import ScanError, ScanOptions, scan_images
from deeptrust.scan.sources import MEMBER_SEP
from tests.scan.conftest import MODEL, make_tarball, visible_files


def read_output(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, keep_default_na=False, na_values={"p_ai": [""], "width": [""]})


def options(**changes):
    return ScanOptions(**({"model": MODEL, "progress": False, "workers": 2, "batch_size": 4} | changes))


@pytest.fixture
def sources(store, tmp_path):
    """A folder, a glob, a tarball and a list file; expected keys in a set."""
    other = tmp_path / "other"
    other.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (other / name).write_bytes((store / "FAKE" / "fake_001.jpg").read_bytes())
    archive = make_tarball(store / "FAKE", tmp_path / "fake.tar.gz")
    listing = tmp_path / "list.txt"
    listing.write_text("other/a.jpg\nmissing.jpg\n")
    specs = [str(store), str(other / "*.jpg"), str(archive), str(listing)]
    expected = {str(p) for p in visible_files(store)} | {str(other / "a.jpg"), str(other / "b.jpg")}
    expected |= {
        f"{archive}{MEMBER_SEP}FAKE/{p.relative_to(store / 'FAKE')}" for p in visible_files(store / "FAKE")
    }
    expected.add(str(tmp_path / "missing.jpg"))
    return specs, expected


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_all_source_kinds_into_every_format(sources, tmp_path, suffix):
    specs, expected = sources
    out = tmp_path / f"scan{suffix}"
    summary = scan_images(specs, out, options())
    table = read_output(out)
    assert sorted(table["path"]) == sorted(expected)
    evidence_columns = ["verdict", "verdict_rule", "evidence", "pdq"]
    assert list(table.columns[-9:-3]) == ["score_FAKE", "score_REAL", *evidence_columns]
    assert list(table.columns[-3:]) == ["model", "model_version", "error"]
    errors = table.set_index("path")["error"]
    assert errors[str(tmp_path / "missing.jpg")].startswith("missing: ")
    assert sum(errors.str.startswith("corrupt_image: ")) == 1
    assert summary.rows == len(expected) and sum(summary.errors.values()) == (errors != "").sum()
    scored = table[table["error"] == ""]
    assert scored["p_ai"].between(0, 1).all() and set(scored["label"]) <= {"FAKE", "REAL"}
    # FAKE/* appear in the folder, the tarball and twice more under other/: scored once, same scores
    copies = scored[scored["sha256"].duplicated(keep=False)]
    assert copies.groupby("sha256")["p_ai"].nunique().eq(1).all()
    assert summary.duplicates == len(scored) - scored["sha256"].nunique()


def test_resume_scans_only_what_is_missing(sources, tmp_path):
    specs, expected = sources
    out = tmp_path / "scan.csv"
    first = scan_images(specs[:1], out, options())
    with pytest.raises(ScanError, match="--resume"):
        scan_images(specs, out, options())
    second = scan_images(specs, out, options(resume=True))
    table = read_output(out)
    assert sorted(table["path"]) == sorted(expected)
    assert second.resumed == first.rows and second.scanned == len(expected) - first.rows
    third = scan_images(specs, out, options(resume=True))
    assert third.scanned == 0 and len(read_output(out)) == len(expected)


def test_resume_with_another_model_is_refused(store, tmp_path, detector):
    out = tmp_path / "scan.jsonl"
    scan_images([str(store)], out, options())
    other = tmp_path / "renamed"
    other.mkdir()
    card = detector.card.replace(version="9.9")
    (other / "card.json").write_text(card.to_json())
    (other / "model.onnx").symlink_to(detector.path.resolve())
    with pytest.raises(ScanError, match=r"written by model cifake 1\.0\.0"):
        scan_images([str(store)], out, options(model=str(other), resume=True))


def test_report_is_self_contained_with_histogram_and_thumbnails(store, tmp_path):
    report = tmp_path / "report.html"
    summary = scan_images([str(store)], tmp_path / "scan.csv", options(report=report))
    page = report.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # no external assets
    pictures = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pictures) == 1 + len(summary.most_confident_ai())
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pictures)
    assert "corrupt_image" in page


def test_unknown_model_is_a_scan_error(store, tmp_path):
    with pytest.raises(ScanError, match="cannot load model 'nope'"):
        scan_images([str(store)], tmp_path / "scan.csv", options(model="nope"))


def test_a_missing_source_fails_before_any_output_is_made(tmp_path):
    out = tmp_path / "scan.csv"
    with pytest.raises(ScanError, match="does not exist"):
        scan_images([str(tmp_path / "typo")], out, options())
    assert not out.exists()
