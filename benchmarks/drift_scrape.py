"""``/metrics`` latency with drift monitoring on, against a real ``deeptrust serve`` process under load.

    .venv/bin/python benchmarks/drift_scrape.py --model photos --rate 20 --seconds 60 \
        --json benchmarks/results/drift-scrape-photos.json

For drift off (DEEPTRUST_DRIFT_ENABLED=false) and on (tests every DEEPTRUST_DRIFT_INTERVAL_S, here 1 s
— ten times the default rate, the worst case), the server takes open-loop /v1/predict traffic of
sd-vs-photos JPEGs at ``--rate`` (after ``--warmup`` seconds that fill the window) while a client
scrapes ``/metrics`` every 0.25 s over its own connection; prints the scrape's latency (p50/p95/max),
its size, and the predictions' p95. Then, in process, the cost of rendering the exposition itself
(``Metrics.render``, what ``/metrics`` returns) with every drift series present while a thread runs
the drift tests back to back — what a scrape costs apart from the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import build_request, run_open_loop

from serve import DATASET, free_port, load_jpegs, multipart, start_server


def scrape_loop(url: str, stop: threading.Event, out: list[float], sizes: list[int]) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = client.get(url)
            out.append(time.perf_counter() - t0)
            sizes.append(len(r.content))
            stop.wait(0.25)


def phase(model: str, enabled: bool, args: argparse.Namespace, images: list[bytes]) -> dict:
    port = free_port()
    env = {"DEEPTRUST_DRIFT_ENABLED": str(enabled).lower(), "DEEPTRUST_DRIFT_INTERVAL_S": "1"}
    with tempfile.TemporaryDirectory() as home:
        proc = start_server(model, port, Path(home), Path(home) / "server.log", env)
        try:
            bodies = []
            for img in images:
                body, ctype = multipart(img)
                bodies.append(build_request("127.0.0.1", port, "/v1/predict", body, ctype))
            # Fill the drift window first (its thresholds are computed as it grows), then measure.
            asyncio.run(run_open_loop("127.0.0.1", port, bodies, rate=args.rate, seconds=args.warmup))
            stop, lat, sizes = threading.Event(), [], []
            scraper = threading.Thread(
                target=scrape_loop, args=(f"http://127.0.0.1:{port}/metrics", stop, lat, sizes)
            )
            scraper.start()
            res = asyncio.run(run_open_loop("127.0.0.1", port, bodies, rate=args.rate, seconds=args.seconds))
            stop.set()
            scraper.join()
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            drift_lines = [ln for ln in text.splitlines() if ln.startswith("deeptrust_drift_")]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    ms = np.asarray(lat) * 1e3
    return {
        "drift_enabled": enabled,
        "scrapes": len(ms),
        "scrape_p50_ms": float(np.percentile(ms, 50)),
        "scrape_p95_ms": float(np.percentile(ms, 95)),
        "scrape_max_ms": float(ms.max()),
        "scrape_bytes": int(statistics.median(sizes)),
        "drift_series": len(drift_lines),
        "predict": res.summary(),
    }


def render_cost(model: str, n: int = 1000) -> dict:
    """``Metrics.render()`` timed ``n`` times while the drift tests of a full window run continuously."""
    from deeptrust.card import load_card
    from deeptrust.monitor.windows import DriftMonitor
    from deeptrust.registry import resolve_model
    from deeptrust.serve.metrics import Metrics

    card = load_card(resolve_model(model))
    metrics = Metrics()
    monitor = DriftMonitor(registry=metrics.registry)
    rng = np.random.default_rng(0)
    dim = monitor.window_for(card).profile.embedding.dim  # type: ignore[union-attr]
    props = {
        "width": 512,
        "height": 512,
        "format": "JPEG",
        "jpeg_quality": 95,
        "mode": "RGB",
        "metadata": "none",
    }
    for _ in range(500):
        monitor.observe(
            card, p_ai=float(rng.random()), properties=props, pooled=rng.random(dim).astype(np.float32)
        )
    monitor.evaluate(force=True)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            monitor.evaluate(force=True)

    worker = threading.Thread(target=churn)
    worker.start()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        body, _ = metrics.render()
        times.append(time.perf_counter() - t0)
    stop.set()
    worker.join()
    ms = np.asarray(times) * 1e3
    return {
        "renders": n,
        "render_p50_ms": float(np.percentile(ms, 50)),
        "render_p95_ms": float(np.percentile(ms, 95)),
        "render_max_ms": float(ms.max()),
        "drift_series": sum(ln.startswith(b"deeptrust_drift_") for ln in body.splitlines()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="photos")
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=30, help="seconds of traffic before measuring")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    images = load_jpegs(DATASET, 200)
    out = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}",
        "phases": [phase(args.model, enabled, args, images) for enabled in (False, True)],
        "render": render_cost(args.model),
        "load_average": list(__import__("os").getloadavg()),
    }
    for p in out["phases"]:
        print(
            f"drift {'on ' if p['drift_enabled'] else 'off'}: /metrics p50 {p['scrape_p50_ms']:.1f} ms, "
            f"p95 {p['scrape_p95_ms']:.1f} ms, max {p['scrape_max_ms']:.1f} ms over {p['scrapes']} scrapes "
            f"({p['scrape_bytes']:,} bytes, {p['drift_series']} drift series); predict p95 "
            f"{p['predict']['p95_ms']:.1f} ms at {p['predict']['achieved_rps']:.1f}/s, "
            f"{p['predict']['errors']} errors"
        )
    r = out["render"]
    print(
        f"in process, tests running back to back: render p50 {r['render_p50_ms']:.2f} ms, p95 "
        f"{r['render_p95_ms']:.2f} ms, max {r['render_max_ms']:.2f} ms ({r['drift_series']} drift series); "
        f"load average {out['load_average'][0]:.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
