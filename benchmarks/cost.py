"""Cost and verdict stability of a model across image sizes, on one core, decode included.

    .venv/bin/python benchmarks/cost.py --models photos photos-1.0 --n 30 \
        --json benchmarks/results/cost-photos.json

Images are mosaics of sd-vs-photos' 512×512 JPEGs of one class (native pixels, never resampled):
1 tile = 0.26 MP, 2×2 = 1 MP, 4×4 = 4.2 MP, 8×6 = 12.6 MP (a phone photo's size), re-encoded as JPEG
q90. For each size: CPU seconds per image (``time.process_time`` of decode + preprocess + ONNX
Runtime on 1 intra-op thread; nothing else runs in the process), the patch count, and how often the
mosaic's label matches its class (a mosaic of real photos is a real photo). ``--n`` mosaics per
class and size; several ``--models`` are measured on the same mosaics, interleaved, in one run.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from deeptrust.detector import Detector

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO.parent / "shared" / "datasets" / "sd-vs-photos.tar.gz"
SIZES = {"0.26MP": (1, 1), "1MP": (2, 2), "4MP": (4, 4), "12MP": (8, 6)}  # tiles across, down


def load_tiles(archive: Path) -> dict[str, list[Image.Image]]:
    out: dict[str, list[Image.Image]] = {"REAL": [], "FAKE": []}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[1] in out:
                img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")  # type: ignore[union-attr]
                if img.size == (512, 512):
                    out[parts[1]].append(img)
    return out


def mosaic(tiles: list[Image.Image], across: int, down: int, rng: np.random.Generator) -> bytes:
    canvas = Image.new("RGB", (512 * across, 512 * down))
    for i in range(across * down):
        canvas.paste(tiles[int(rng.integers(len(tiles)))], ((i % across) * 512, (i // across) * 512))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def measure(detector: Detector, jpeg: bytes) -> tuple[float, float, int]:
    t0 = time.process_time()
    pixels = detector.decode_array(jpeg)
    crops = detector.preprocess(pixels)
    probs = detector.predict_crops([crops])[0]
    return time.process_time() - t0, float(1 - probs[detector.card.real_index]), len(crops)


def summarise(rows: list[tuple[str, float, float, int]], threshold: float, megapixels: float) -> dict:
    cpu = [r[1] for r in rows]
    called = {lab: [r[2] >= threshold for r in rows if r[0] == lab] for lab in ("REAL", "FAKE")}
    return {
        "megapixels": megapixels,
        "patches": rows[0][3],
        "cpu_ms_median": round(1e3 * statistics.median(cpu), 2),
        "cpu_ms_p95": round(1e3 * float(np.percentile(cpu, 95)), 2),
        "fpr_real_mosaics": round(float(np.mean(called["REAL"])), 3),
        "tpr_fake_mosaics": round(float(np.mean(called["FAKE"])), 3),
        "mean_p_ai": {lab: round(float(np.mean([r[2] for r in rows if r[0] == lab])), 4) for lab in called},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["photos"])
    ap.add_argument("--n", type=int, default=30, help="mosaics per class and size")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    detectors = {m: Detector.load(m, threads=1) for m in args.models}
    tiles = load_tiles(DATASET)
    rng = np.random.default_rng(0)
    for d in detectors.values():
        measure(d, mosaic(tiles["REAL"], 1, 1, rng))  # warm-up
    result: dict[str, dict] = {m: {"version": d.card.version, "sizes": {}} for m, d in detectors.items()}
    for name, (across, down) in SIZES.items():
        rows: dict[str, list] = {m: [] for m in detectors}
        for label in ("REAL", "FAKE"):
            for _ in range(args.n):
                jpeg = mosaic(tiles[label], across, down, rng)
                for m, d in detectors.items():
                    cpu, p_ai, patches = measure(d, jpeg)
                    rows[m].append((label, cpu, p_ai, patches))
        for m, d in detectors.items():
            mp = round(512 * across * 512 * down / 1e6, 2)
            result[m]["sizes"][name] = summarise(rows[m], d.card.threshold, mp)
            print(m, name, result[m]["sizes"][name], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
