"""Decode + preprocess cost per image: the PIL path (training, evaluation) vs the array path (service, scan).

    .venv/bin/python benchmarks/decode.py --model photos --images 200 --rounds 6

Both paths run interleaved in one process on the same JPEGs from sd-vs-photos, so host noise hits both
alike; reported: best and median ms per image over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deeptrust.detector import Detector
from serve import DATASET, load_jpegs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="photos")
    ap.add_argument("--data", type=Path, default=DATASET)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    images = load_jpegs(args.data, args.images)
    detector = Detector.load(args.model, threads=1)
    paths = {
        "PIL image (decode)": lambda b: detector.preprocess(detector.decode(b)),
        "array (decode_array)": lambda b: detector.preprocess(detector.decode_array(b)),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, fn in paths.items():
            started = time.perf_counter()
            for b in images:
                fn(b)
            times[name].append((time.perf_counter() - started) / len(images) * 1e3)
    print(f"{len(images)} JPEGs, model {args.model}, {args.rounds} interleaved rounds\n")
    print("| path | best ms/image | median ms/image |\n|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
