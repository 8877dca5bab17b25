"""``deeptrust scan`` from the command line, including a real ``kill -9`` in the middle of a scan."""

from __future__ import annotations

import os
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


def _written_rows(out) -> int:
    if out.suffix == ".parquet":
        return len(list(parts_dir(out).glob("part-*.parquet"))) if parts_dir(out).exists() else 0
    return max(out.read_bytes().count(b"\n") - 1, 0) if out.exists() else 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_scan_killed_with_sigkill_resumes_to_every_input_exactly_once(tmp_path, suffix):
    folder = make_image_folder(tmp_path / "many", per_class=KILL_IMAGES // 2, size=32)
    out = tmp_path / f"scan{suffix}"
    command = [sys.executable, "-m", "deeptrust.cli", "scan", str(folder), "-m", MODEL, "-o", str(out)]
    command += ["--chunk-size", "16", "--batch-size", "8", "--workers", "1", "--no-progress"]
    scan = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while _written_rows(out) < 1 and scan.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    assert scan.returncode == -signal.SIGKILL, f"the scan ended before it was killed: {scan.stderr.read()}"
    scan.stderr.close()
    faster = ["--chunk-size", "128", "--batch-size", "64", "--workers", "2"]  # need not match the first run
    resumed = runner.invoke(app, [*command[3:], "--resume", *faster])
    assert resumed.exit_code == 0, resumed.output
    table = (
        pq.read_table(out).to_pandas() if suffix == ".parquet" else pd.read_csv(out, keep_default_na=False)
    )
    assert sorted(table["path"]) == [str(p) for p in visible_files(folder)]
    assert (table["error"] == "").all()
    assert "kept from the earlier run" in resumed.output
    assert not parts_dir(out).exists()
