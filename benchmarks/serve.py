"""Serving benchmark: a real ``deeptrust serve`` process driven open-loop at fixed arrival rates.

    .venv/bin/python benchmarks/serve.py --model photos --rates 50,100,200,300 --seconds 20 \
        --concurrency 32 --workers 1,2 --soak-seconds 600 --json benchmarks/results/serve-photos.json

In one run: the raw ONNX Runtime throughput of the same model on pre-decoded crops (the ceiling), then
512×512 JPEG uploads from sd-vs-photos at each arrival rate, a closed-loop saturation run, and optionally
a soak at 80 % of the maximum throughput with the server's resident memory (all its processes) sampled
before and after. ``--workers 1,2`` compares worker counts in one run; the raw ceiling is measured
before and after, and ratios use the mean.
The load generator shares the machine's cores with the server, as a sidecar would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import build_request, run_closed_loop, run_open_loop

from deeptrust.detector import Detector

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO.parent / "shared" / "datasets" / "sd-vs-photos.tar.gz"


def load_jpegs(archive: Path, n: int) -> list[bytes]:
    out: list[bytes] = []
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg")):
                out.append(tar.extractfile(member).read())  # type: ignore[union-attr]
                if len(out) == n:
                    break
    return out


def raw_throughput(model: str, images: list[bytes], *, batch: int, threads: int, seconds: float) -> dict:
    """Images/s of ONNX Runtime alone on pre-decoded crops: ``threads`` concurrent 1-thread calls."""
    detector = Detector.load(model, threads=1)
    crops = [detector.preprocess(detector.decode(b)) for b in images[: batch * 4]]
    batches = [np.concatenate(crops[i : i + batch]) for i in range(0, len(crops), batch)]
    detector.run(batches[0])
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        i = k
        while time.perf_counter() < stop:
            detector.run(batches[i % len(batches)])
            counts[k] += batch
            i += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    decode_ms = _time_decode(detector, images)
    return {"images_per_s": sum(counts) / (time.perf_counter() - started), "decode_preprocess_ms": decode_ms}


def _time_decode(detector: Detector, images: list[bytes]) -> float:
    t = time.perf_counter()
    for b in images:
        detector.preprocess(detector.decode(b))
    return (time.perf_counter() - t) / len(images) * 1e3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model: str, port: int, home: Path, log: Path, extra_env: dict[str, str], workers: int = 1
) -> subprocess.Popen:
    env = os.environ | {"DEEPTRUST_HOME": str(home), "DEEPTRUST_MODEL": model} | extra_env
    cmd = [sys.executable, "-m", "deeptrust.cli", "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not become ready; see {log}")


def rss_mib(pid: int) -> float:
    """Resident memory of the server: the process and its worker processes."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0.0
    for p in [pid, *map(int, children)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def multipart(image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + image + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def table(rows: list[dict], raw: float) -> str:
    lines = [
        "| load | offered RPS | achieved RPS | p50 ms | p95 ms | p99 ms | errors (503, transport) | of raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        offered = f"{r['offered_rps']:.0f}" if r["offered_rps"] else "closed loop"
        lines.append(
            f"| {r['name']} | {offered} | {r['achieved_rps']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} ({r['statuses'].get('503', 0)}, {r['transport_errors']}) "
            f"| {r['achieved_rps'] / raw:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="photos")
    ap.add_argument("--data", type=Path, default=DATASET)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rates", default="50,100,150,200,300")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=32, help="closed-loop clients for the saturation run")
    ap.add_argument("--soak-seconds", type=float, default=0.0)
    ap.add_argument("--body", choices=("multipart", "raw"), default="multipart")
    ap.add_argument("--raw-batch", type=int, default=8)
    ap.add_argument(
        "--env", action="append", default=[], help="server setting, e.g. DEEPTRUST_RUNNER_THREADS=1"
    )
    ap.add_argument(
        "--workers", default="1", help="server worker processes; a list (1,2) compares them in one run"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    images = load_jpegs(args.data, args.images)
    raw = raw_throughput(args.model, images, batch=args.raw_batch, threads=os.cpu_count() or 2, seconds=10)
    print(
        f"raw ONNX Runtime: {raw['images_per_s']:.1f} images/s; "
        f"decode+preprocess {raw['decode_preprocess_ms']:.2f} ms"
    )
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    counts = [int(w) for w in args.workers.split(",")]
    rows: list[dict] = []
    soak = None
    for k, workers in enumerate(counts):
        soak_seconds = args.soak_seconds if k == len(counts) - 1 else 0.0  # the soak runs on the last
        phase_rows, phase_soak = run_phase(args, images, raw, extra_env, workers, soak_seconds)
        rows += phase_rows
        soak = phase_soak or soak
    # The VM's speed drifts: measure the ceiling again and compare against the mean of both.
    after = raw_throughput(args.model, images, batch=args.raw_batch, threads=os.cpu_count() or 2, seconds=10)
    raw = {"images_per_s": (raw["images_per_s"] + after["images_per_s"]) / 2,
           "before": raw, "after": after}  # fmt: skip
    print(
        f"raw ONNX Runtime after: {after['images_per_s']:.1f} images/s; "
        f"ratios below are against the mean, {raw['images_per_s']:.1f}"
    )
    print()
    print(table(rows, raw["images_per_s"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"model": args.model, "body": args.body, "cpus": os.cpu_count(), "server_env": extra_env}
        report |= {"workers": counts, "raw": raw, "rows": rows}
        args.json.write_text(json.dumps(report | {"soak": soak}, indent=2))


def run_phase(
    args, images, raw, extra_env, workers: int, soak_seconds: float
) -> tuple[list[dict], dict | None]:
    """One server with ``workers`` processes: the arrival rates, saturation, then the soak if asked."""
    port, home = free_port(), REPO / ".deeptrust" / "bench-serve"
    home.mkdir(parents=True, exist_ok=True)
    proc = start_server(args.model, port, home, home / "server.log", extra_env, workers)
    bodies = [multipart(b) if args.body == "multipart" else (b, "image/jpeg") for b in images]
    requests = [build_request("127.0.0.1", port, "/v1/predict", body, ctype) for body, ctype in bodies]
    tag = f"{workers} worker{'s' if workers > 1 else ''}"
    rows: list[dict] = []
    soak = None

    def record(name: str, res) -> None:
        rows.append({"name": f"{tag}: {name}", "workers": workers} | res.summary())
        print(table(rows[-1:], raw["images_per_s"]).splitlines()[-1], flush=True)

    try:
        asyncio.run(run_closed_loop("127.0.0.1", port, requests, concurrency=4, seconds=3))  # warm-up
        for rate in (float(r) for r in args.rates.split(",")):
            res = asyncio.run(run_open_loop("127.0.0.1", port, requests, rate=rate, seconds=args.seconds))
            record(f"open loop {rate:.0f}/s", res)
        sat = asyncio.run(
            run_closed_loop("127.0.0.1", port, requests, concurrency=args.concurrency, seconds=args.seconds)
        )
        record(f"saturation ({args.concurrency} clients)", sat)
        if soak_seconds:
            # The maximum is what the server sustains: the lower of the closed-loop saturation and the
            # best open-loop throughput (past capacity, open-loop arrivals also cost the refused requests).
            rate = 0.8 * min(rows[-1]["achieved_rps"], max(r["achieved_rps"] for r in rows[:-1]))
            before = rss_mib(proc.pid)
            res = asyncio.run(run_open_loop("127.0.0.1", port, requests, rate=rate, seconds=soak_seconds))
            after = rss_mib(proc.pid)
            record(f"soak {soak_seconds:.0f} s at {rate:.0f}/s (80 %)", res)
            soak = {"rss_before_mib": before, "rss_after_mib": after, "rss_growth": after / before - 1}
            print(f"soak: RSS {before:.1f} → {after:.1f} MiB ({soak['rss_growth']:+.1%})")
    finally:
        proc.terminate()
        proc.wait(60)
    return rows, soak


if __name__ == "__main__":
    main()
