"""Writers: every format round-trips rows, and a cut-off end is repaired when a scan resumes."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from deeptrust.scan.errors import ScanError
from deeptrust.scan.writers import open_writer, parts_dir

COLUMNS = ("path", "sha256", "width", "height", "format", "label", "p_ai", "score_FAKE", "score_REAL",
           "model", "model_version", "error")  # fmt: skip


def make_row(i: int, *, error: str = "") -> dict:
    p = (i % 10) / 10 + 0.012345678901234567
    row = dict.fromkeys(COLUMNS)
    row.update(path=f'/data/img\n{i},"quoted".jpg', sha256=f"{i:064x}", format="JPEG", label="FAKE")
    row.update(width=32, height=32, p_ai=p, score_FAKE=p, score_REAL=1 - p)
    row.update(model="cifake", model_version="1.0.0", error=error)
    if error:
        row.update(width=None, height=None, format="", label="", p_ai=None, score_FAKE=None, score_REAL=None)
    return row


ROWS = [make_row(i) for i in range(5)] + [make_row(5, error="corrupt_image: truncated")]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_rows_round_trip_exactly(tmp_path, suffix):
    out = tmp_path / f"scan{suffix}"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:4])
    writer.write_chunk(ROWS[4:])
    writer.finish()
    assert out.exists() and not parts_dir(out).exists()
    again = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(again.existing()) == ROWS
    again.finish()


def test_csv_is_readable_by_the_csv_module(tmp_path):
    out = tmp_path / "scan.csv"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS)
    writer.finish()
    with out.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    assert [r["path"] for r in records] == [r["path"] for r in ROWS]


@pytest.mark.parametrize("cut", [1, 7, 40, -3, -1])
def test_csv_resume_drops_a_partial_last_record(tmp_path, cut):
    out = tmp_path / "scan.csv"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:3])
    writer.close()
    complete = out.read_bytes()
    writer = open_writer(out, COLUMNS, resume=True, overwrite=False)
    writer.write_chunk(ROWS[3:4])
    writer.close()
    whole = out.read_bytes()
    out.write_bytes(whole[: len(complete) + cut] if cut > 0 else whole[:cut])  # a kill mid-append
    resumed = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(resumed.existing()) == ROWS[:3]
    assert out.read_bytes() == complete
    resumed.write_chunk(ROWS[3:])
    resumed.finish()
    assert list(open_writer(out, COLUMNS, resume=True, overwrite=False).existing()) == ROWS


def test_jsonl_resume_drops_a_partial_last_line_and_refuses_damage(tmp_path):
    out = tmp_path / "scan.jsonl"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:3])
    writer.close()
    complete = out.read_bytes()
    out.write_bytes(complete + json.dumps(ROWS[3]).encode()[:25])
    resumed = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(resumed.existing()) == ROWS[:3] and out.read_bytes() == complete
    resumed.close()
    out.write_bytes(b"{oops\n" + complete)
    with pytest.raises(ScanError, match="line 1 is not JSON"):
        open_writer(out, COLUMNS, resume=True, overwrite=False)


def test_parquet_parts_survive_a_kill_and_resume(tmp_path):
    out = tmp_path / "scan.parquet"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:2])
    writer.write_chunk(ROWS[2:4])
    (parts_dir(out) / ".part-000002.parquet.tmp").write_bytes(b"PAR1 half")  # killed mid-part
    del writer  # killed: never finished
    assert not out.exists()
    resumed = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(resumed.existing()) == ROWS[:4]
    resumed.write_chunk(ROWS[4:])
    resumed.finish()
    assert pq.read_table(out).num_rows == len(ROWS) and not parts_dir(out).exists()


def test_parquet_resume_extends_a_finished_file_and_recovers_a_kill_after_the_merge(tmp_path):
    out = tmp_path / "scan.parquet"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:2])
    writer.finish()
    parts_dir(out).mkdir()  # as if killed after the merge's rename, before the folder went
    (parts_dir(out) / "part-000000.parquet").write_bytes(b"stale")
    extended = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(extended.existing()) == ROWS[:2]
    extended.write_chunk(ROWS[2:])
    extended.finish()
    assert pq.read_table(out).to_pylist() == ROWS


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_existing_outputs_need_resume_or_overwrite_and_matching_columns(tmp_path, suffix):
    out = tmp_path / f"scan{suffix}"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    writer.write_chunk(ROWS[:1])
    writer.finish()
    with pytest.raises(ScanError, match="--resume"):
        open_writer(out, COLUMNS, resume=False, overwrite=False)
    with pytest.raises(ScanError, match="columns"):
        list(open_writer(out, (*COLUMNS[:-1], "other"), resume=True, overwrite=False).existing())
    fresh = open_writer(out, COLUMNS, resume=False, overwrite=True)
    assert list(fresh.existing()) == []
    fresh.finish()


def test_unknown_output_suffix_is_refused(tmp_path):
    with pytest.raises(ScanError, match=r"\.csv, \.jsonl or \.parquet"):
        open_writer(tmp_path / "scan.xlsx", COLUMNS, resume=False, overwrite=False)


def test_csv_killed_while_writing_its_header_starts_afresh(tmp_path):
    out = tmp_path / "scan.csv"
    out.write_text("path,sha256,wid")
    writer = open_writer(out, COLUMNS, resume=True, overwrite=False)
    assert list(writer.existing()) == []
    writer.write_chunk(ROWS[:1])
    writer.finish()
    assert list(open_writer(out, COLUMNS, resume=True, overwrite=False).existing()) == ROWS[:1]
