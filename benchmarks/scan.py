"""Scan throughput on one folder, in one run: the raw model, the local engine and the Ray engine.

    .venv/bin/python benchmarks/scan.py                          # sd-vs-photos with the photos model
    .venv/bin/python benchmarks/scan.py --folder DIR --model cifake --json out.json

* raw: ``Detector.predict_crops`` on crops decoded beforehand — the ceiling a scanner could reach if
  reading and decoding were free — with the engine's settings and concurrency (``--workers``
  streams of ``--threads`` ONNX Runtime threads, batches of ``--batch-size``), and, for reference,
  one session using every core (``threads=0``).
* local: ``scan_images`` with the local engine (thread workers, then process workers), into a CSV.
* ray: the same on Ray Data, on a local Ray started beforehand (its start-up is shown apart). Its
  actors start with each scan; "after start-up" is the rate once the first rows came back.

Each figure is the best of ``--repeats`` runs (the dev machine is shared; best-of is the least
noisy). Also measured: decode+preprocess and model time per image on one thread, which bound what
the scanner can reach on a few cores. The default folder is ``../shared/datasets/sd-vs-photos.tar.gz``
extracted once into ``.deeptrust/cache/bench/``. Prints a markdown table; ``--json`` keeps every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deeptrust import Detector
from deeptrust.evidence.scan import scan_evidence
from deeptrust.scan import ScanOptions, Summary, scan_images
from deeptrust.scan.scoring import sha256_hex
from deeptrust.settings import get_settings

DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sd-vs-photos.tar.gz"


def default_folder() -> Path:
    dest = get_settings().cache_dir / "bench" / "sd-vs-photos"
    if not dest.is_dir():
        partial = dest.with_name(dest.name + ".partial")
        with tarfile.open(DATASET) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(dest)
    return dest


def per_image_ms(fn: Callable[[bytes], object], blobs: list[bytes], repeats: int) -> float:
    """Best ms per image of ``fn`` over ``repeats`` passes; results are dropped as they come, as in a
    scanner (keeping hundreds of decoded images alive would time page faults, not decoding)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for blob in blobs:
            fn(blob)
        best = min(best, time.perf_counter() - start)
    return best / len(blobs) * 1000


def raw_rate(detector: Detector, crops: list, *, streams: int, batch_size: int) -> float:
    batches = [crops[i : i + batch_size] for i in range(0, len(crops), batch_size)]
    detector.predict_crops(batches[0])  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(detector.predict_crops, batches))
    return len(crops) / (time.perf_counter() - start)


def measure_raw(args: argparse.Namespace, blobs: list[bytes], results: dict) -> dict[str, dict]:
    """One-thread costs per image, then the raw rates (the decoded crops live only in here)."""
    detector = Detector.load(args.model, threads=args.threads)
    one = Detector.load(args.model, threads=1)
    reps = args.repeats
    decode = per_image_ms(one.decode_array, blobs, reps)
    decode_and_crops = per_image_ms(lambda b: one.preprocess(one.decode_array(b)), blobs, reps)
    decode_and_evidence = per_image_ms(lambda b: scan_evidence(b, one.decode_array(b)), blobs, reps)
    results["ms_per_image_1_thread"] = {
        "sha256": per_image_ms(sha256_hex, blobs, reps),
        # the scanner's own path: bytes → (H, W, 3) array → crops (decode_one in deeptrust.scan.scoring)
        "decode": decode,
        "preprocess": decode_and_crops - decode,
        # and the evidence every scanned image gets (metadata readers, PDQ hash, watermark decoder)
        "evidence": decode_and_evidence - decode,
    }
    crops = [one.preprocess(one.decode_array(b)) for b in blobs]
    results["ms_per_image_1_thread"]["model"] = 1000 / raw_rate(
        one, crops, streams=1, batch_size=args.batch_size
    )
    all_cores = Detector.load(args.model, threads=0)
    runs = {
        "raw": [
            raw_rate(detector, crops, streams=args.workers, batch_size=args.batch_size)
            for _ in range(args.repeats)
        ],
        "raw_one_session_all_cores": [
            raw_rate(all_cores, crops, streams=1, batch_size=args.batch_size) for _ in range(args.repeats)
        ],
    }
    return {name: {"images_per_s": max(rates), "runs": rates} for name, rates in runs.items()}


def measure_scan(folder: Path, options: ScanOptions, repeats: int) -> dict:
    summaries: list[Summary] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            summaries.append(scan_images([str(folder)], Path(tmp) / "scan.csv", options))
    best = max(summaries, key=lambda s: s.images_per_s)
    return {
        "images_per_s": best.images_per_s,
        "first_rows_s": best.first_rows_s,
        "steady_images_per_s": best.steady_images_per_s,
        "runs": [s.images_per_s for s in summaries],
        "summary": best.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--model", default="photos")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or default_folder()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    blobs = [p.read_bytes() for p in files]  # also warms the page cache for the scans
    results: dict = {"folder": str(folder), "images": len(files), "model": args.model}
    results["config"] = {k: getattr(args, k) for k in ("workers", "threads", "batch_size", "repeats")}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg(),
    }
    rates = measure_raw(args, blobs, results)
    del blobs
    common = {
        "model": args.model,
        "workers": args.workers,
        "threads": args.threads,
        "batch_size": args.batch_size,
    }
    for decoder in ("threads", "processes"):
        options = ScanOptions(**common, decoder=decoder, progress=False)
        rates[f"local_{decoder}"] = measure_scan(folder, options, args.repeats)
    if not args.no_ray:
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        results["ray_init_s"] = time.perf_counter() - start
        rates["ray"] = measure_scan(folder, ScanOptions(**common, engine="ray", progress=False), args.repeats)
        ray.shutdown()
    results["rates"] = rates
    results["machine"]["load_after"] = os.getloadavg()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict) -> None:
    rates, cfg = results["rates"], results["config"]
    raw = rates["raw"]["images_per_s"]
    each = f"{cfg['workers']} × {cfg['threads']} thread"
    rows = [
        ("raw model on pre-decoded crops", "raw", f"{cfg['workers']} streams × {cfg['threads']} thread"),
        ("raw model, one session on all cores", "raw_one_session_all_cores", "1 stream × all cores"),
        ("local engine, thread workers", "local_threads", each),
        ("local engine, process workers", "local_processes", each),
        ("Ray engine (local Ray)", "ray", f"{cfg['workers']} actors × {cfg['threads']} thread"),
    ]
    print(
        f"\n{results['images']} images in {results['folder']}, model {results['model']}, "
        f"batch {cfg['batch_size']}, best of {cfg['repeats']}\n"
    )
    print("| | setting | images/s | vs raw | first rows after | images/s after that |")
    print("|---|---|---:|---:|---:|---:|")
    for label, key, setting in rows:
        if key in rates:
            r = rates[key]
            first = f"{r['first_rows_s']:.1f} s" if "first_rows_s" in r else ""
            steady = f"{r['steady_images_per_s']:.1f}" if "steady_images_per_s" in r else ""
            share = r["images_per_s"] / raw
            print(f"| {label} | {setting} | {r['images_per_s']:.1f} | {share:.0%} | {first} | {steady} |")
    ms = results["ms_per_image_1_thread"]
    other = ms["sha256"] + ms["decode"] + ms["preprocess"] + ms.get("evidence", 0.0)
    bound = ms["model"] / (ms["model"] + other)
    print(
        f"\nper image on one thread: sha256 {ms['sha256']:.2f} ms + decode {ms['decode']:.2f} ms"
        f" + preprocess {ms['preprocess']:.2f} ms + evidence {ms.get('evidence', 0.0):.2f} ms"
        f" = {other:.2f} ms besides the model's {ms['model']:.2f} ms;"
        f" where the model alone fills every core, a scanner reaches at most {bound:.0%} of raw"
    )
    if "ray" in rates:
        print(f"ray.init: {results['ray_init_s']:.1f} s (not counted)")
    load = results["machine"]
    print(f"load average before/after: {load['load'][0]:.2f} / {load['load_after'][0]:.2f}")


if __name__ == "__main__":
    main()
