"""``deeptrust scan`` from the command line, including a real ``kill -9`` in the middle of a scan."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.scan.writers import parts_dir
from tests.conftest import make_image_folder
from tests.scan.conftest import MODEL, visible_files

runner = CliRunner()
KILL_IMAGES = 800  # enough that the scan is still running when its first chunk lands


def test_scan_prints_a_summary_and_writes_the_output(store, tmp_path):
    out = tmp_path / "scan.csv"
    result = runner.invoke(app, ["scan", str(store), "-m", MODEL, "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Scan summary" in result.output and "error corrupt_image" in result.output
    assert "duplicates (scored once)" in result.output
    assert len(pd.read_csv(out)) == len(visible_files(store))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "spark"], "--engine must be local or ray"),
        (["--decoder", "fibers"], "--decoder must be threads or processes"),
        (["-o", "scan.xlsx"], ".csv, .jsonl or .parquet"),
        (["-m", "nope"], "cannot load model"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(store, tmp_path, args, message):
    base = ["scan", str(store), "-m", MODEL, "-o", str(tmp_path / "scan.csv"), "--no-progress"]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_missing_ray_says_which_extra_to_install(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    args = [
        "scan",
        str(store),
        "-m",
        MODEL,
        "-o",
        str(tmp_path / "s.csv"),
        "--engine",
        "ray",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "pip install 'deeptrust[ray]'" in " ".join(result.output.split())


def rows_on_disk(out) -> int:
    """Complete rows a reader finds now: CSV records, JSON lines, or rows in the Parquet parts renamed in."""
    if out.suffix == ".jsonl":
        return len(out.read_text().splitlines()) if out.exists() else 0
    if out.suffix == ".parquet":
        parts = sorted(parts_dir(out).glob("part-*.parquet")) if parts_dir(out).exists() else []
        return sum(pq.read_metadata(p).num_rows for p in parts)
    return len(pd.read_csv(out)) if out.exists() and out.stat().st_size else 0


def kept_rows(output: str) -> int:
    found = re.search(r"kept from the earlier run\s+([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def scan_command(folder, out, *, chunk: int) -> list[str]:
    command = [sys.executable, "-m", "deeptrust.cli", "scan", str(folder), "-m", MODEL, "-o", str(out)]
    return [*command, "--chunk-size", str(chunk), "--batch-size", "8", "--workers", "1", "--no-progress"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_scan_killed_with_sigkill_resumes_to_every_input_exactly_once(tmp_path, suffix):
    folder = make_image_folder(tmp_path / "many", per_class=KILL_IMAGES // 2, size=32)
    out = tmp_path / f"scan{suffix}"
    command = scan_command(folder, out, chunk=16)
    scan = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while rows_on_disk(out) < 16 and scan.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # until the first chunk is on disk
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    assert scan.returncode == -signal.SIGKILL, f"the scan ended before it was killed: {scan.stderr.read()}"
    scan.stderr.close()
    on_disk = rows_on_disk(out)
    # Written chunk by chunk: whole chunks are there, and far from everything (a scan that wrote only at
    # the end would show its first rows all at once).
    assert 16 <= on_disk < KILL_IMAGES and on_disk % 16 == 0, on_disk
    faster = ["--chunk-size", "128", "--batch-size", "64", "--workers", "2"]  # need not match the first run
    resumed = runner.invoke(app, [*command[3:], "--resume", *faster])
    assert resumed.exit_code == 0, resumed.output
    assert kept_rows(resumed.output) == on_disk  # what was on disk is what the resume kept
    table = (
        pq.read_table(out).to_pandas() if suffix == ".parquet" else pd.read_csv(out, keep_default_na=False)
    )
    assert sorted(table["path"]) == [str(p) for p in visible_files(folder)]
    assert (table["error"] == "").all()
    assert not parts_dir(out).exists()


# Runs the real CLI, but SIGKILLs itself once the engine has handed over at least KILL_AFTER_ROWS
# scored rows, printing how many: the point of the kill is known exactly, so the loss can be counted.
SELF_KILLING_SCAN = """
import os, signal, sys
import deeptrust.scan.run as run
from deeptrust.cli import app

after, real_engine = int(os.environ["KILL_AFTER_ROWS"]), run._run_engine

def run_engine(sources, done, detector, resolver, emit, options):
    handed = 0
    def counted(rows):
        nonlocal handed
        emit(rows)
        handed += len(rows)
        if handed >= after:
            print("handed", handed, file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    real_engine(sources, done, detector, resolver, counted, options)

run._run_engine = run_engine
app(sys.argv[1:])
"""


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_kill_9_loses_at_most_one_chunk_of_scored_rows(tmp_path, suffix):
    folder = make_image_folder(tmp_path / "some", per_class=60, size=32)
    out, chunk = tmp_path / f"scan{suffix}", 16
    command = [sys.executable, "-c", SELF_KILLING_SCAN, *scan_command(folder, out, chunk=chunk)[3:]]
    env = os.environ | {"KILL_AFTER_ROWS": "56"}  # 7 batches of 8: 3.5 chunks
    killed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    handed = int(re.search(r"handed (\d+)", killed.stderr).group(1))
    on_disk = rows_on_disk(out)
    assert handed - chunk < on_disk <= handed, (handed, on_disk)  # lost: fewer than one chunk
