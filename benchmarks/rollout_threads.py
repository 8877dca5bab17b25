"""Where a shadow lane's cost lands: per-thread CPU and run-queue wait of a real ``deeptrust serve`` (and of
its child processes) at 50 RPS, with the champion alone and with a challenger in shadow at share 1.0.

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/rollout_threads.py [SHARE] [SECONDS] [DEEPTRUST_X=Y ...]

Four phases (alone, shadow, alone, shadow). Per thread, from /proc/PID/task/TID/{stat,schedstat}: nice, CPU
used (cores), time spent runnable but waiting for a core (cores), the mean wait per time slice (ms) and the
number of slices. A champion thread whose wait grows in the shadow phases is losing a core (or the GIL: a
thread waiting for the GIL sleeps, so GIL waits show as latency, not as run-queue wait). Drift and evidence
are off, as in benchmarks/rollout.py. Results of 2026-12-07: benchmarks/results/rollout-shadow-threads.txt.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import build_request, run_closed_loop, run_open_loop

from serve import DATASET, REPO, free_port, load_jpegs, multipart, start_server


def pids(root: int) -> list[int]:
    out = [root]
    for p in subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split():
        out += pids(int(p))
    return out


def threads(root: int) -> dict[tuple[int, int], tuple]:
    """(pid, tid) → (nice, CPU s, run s, wait s, slices) for the server and its children."""
    snap = {}
    for pid in pids(root):
        for t in Path(f"/proc/{pid}/task").iterdir():
            try:
                f = (t / "stat").read_text().rsplit(")", 1)[1].split()
                run, wait, slices = map(int, (t / "schedstat").read_text().split())
            except OSError:
                continue
            cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
            snap[(pid, int(t.name))] = (int(f[16]), cpu, run / 1e9, wait / 1e9, slices)
    return snap


def table(a: dict, b: dict, secs: float) -> list[str]:
    rows = []
    for key, (nice, _, run, wait, slices) in b.items():
        _, _, run0, wait0, slices0 = a.get(key, (0, 0.0, 0.0, 0.0, 0))
        run, wait, slices = run - run0, wait - wait0, slices - slices0
        if run > 0.05:
            rows.append((run, f"  {key[0]:>7} {key[1]:>7} {nice:>4} {run / secs:9.3f} {wait / secs:10.3f} "
                              f"{wait / max(slices, 1) * 1e3:9.3f} {slices:8}"))  # fmt: skip
    return [r for _, r in sorted(rows, reverse=True)]


def main() -> None:
    share = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    extra = dict(kv.split("=", 1) for kv in sys.argv[3:])
    images = load_jpegs(DATASET, 64)
    port, home = free_port(), REPO / ".deeptrust" / "bench-rollout"
    home.mkdir(parents=True, exist_ok=True)
    env = {"DEEPTRUST_LOCAL_ADMIN": "true", "DEEPTRUST_DRIFT_ENABLED": "false", "DEEPTRUST_EVIDENCE": "false"}
    proc = start_server("photos-1.0", port, home, home / "server.log", env | extra)
    url = f"http://127.0.0.1:{port}"
    reqs = [build_request("127.0.0.1", port, "/v1/predict", *multipart(b)) for b in images]
    try:
        asyncio.run(run_closed_loop("127.0.0.1", port, reqs, concurrency=4, seconds=3))
        for phase in ("alone", "shadow", "alone", "shadow"):
            if phase == "shadow":
                body = {"model": "photos-1.0", "mode": "shadow", "share": share}
                httpx.post(url + "/v1/rollout", json=body, timeout=120).raise_for_status()
                time.sleep(1)
            a, t0 = threads(proc.pid), time.perf_counter()
            res = asyncio.run(run_open_loop("127.0.0.1", port, reqs, rate=50, seconds=secs))
            b, elapsed = threads(proc.pid), time.perf_counter() - t0
            s = res.summary()
            scored = httpx.get(url + "/v1/rollout").json().get("shadow_scored")
            print(f"== {phase}: p50 {s['p50_ms']:.1f} p95 {s['p95_ms']:.1f} p99 {s['p99_ms']:.1f} ms, errors "
                  f"{s['errors']}, lane scored {scored}")  # fmt: skip
            print("      pid     tid nice run_cores wait_cores wait_ms/slice   slices")
            print("\n".join(table(a, b, elapsed)))
            if phase == "shadow":
                httpx.post(url + "/v1/rollout/abort", timeout=60).raise_for_status()
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
