"""How far PDQ hashes move under common processing, and how close unrelated images come: the data behind
the hash-match distance (``DEEPTRUST_HASH_MAX_DISTANCE``).

    PYTHONPATH=src .venv/bin/python benchmarks/pdq_reliability.py --transformed 300 \
        --json benchmarks/results/pdq-reliability.json

1. Same image, processed: ``--transformed`` images from each of sd-vs-photos (512×512) and multigen
   (256×256) are resized (×0.5, ×0.25, ×2), re-encoded (JPEG q90 / q75 / q50, 4:2:0), cropped (1 %, 2 %, 5 %,
   10 % off one corner; 5 % off every side), and resized + JPEG together; the Hamming distance between
   the hash of the original and of the processed image, per transform: percentiles and recall at the
   candidate thresholds.
2. Unrelated images: every image of both packs (de-duplicated by their authors) against every other;
   the rate of pairs within each threshold (the false-match rate per listed hash), and the share of
   images whose nearest other image is within it (per-query false matches against a list as big as the
   pack), with and without the low-quality filter (quality < 50). The closest pairs are listed to look at.
3. Cost: hashing a 1 MP image (a 2×2 mosaic of 512² tiles), downscaled to 512 first (what deeptrust does)
   or hashed at full size, and how far the two hashes differ.
4. Crop variants (``--parts crops``, ``_pdq_crops.py``): survival of crops of many shapes and sizes with the
   listed image's crop variants, the reverse case (a listed crop, the full image uploaded) with query-side
   crops, and false matches among all unrelated images with every image's variants listed:

    PYTHONPATH=src .venv/bin/python benchmarks/pdq_reliability.py --parts crops --transformed 150 \
        --json benchmarks/results/pdq-crop-variants.json
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from deeptrust.evidence import pdq

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
THRESHOLDS = (16, 24, 31, 40, 48, 63)

Transform = Callable[[Image.Image], Image.Image]


def _jpeg(quality: int) -> Transform:
    def apply(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=2)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    return apply


def _resize(factor: float) -> Transform:
    return lambda img: img.resize(
        (max(1, round(img.width * factor)), max(1, round(img.height * factor))), Image.Resampling.BICUBIC
    )


def _crop_corner(fraction: float) -> Transform:
    return lambda img: img.crop(
        (round(img.width * fraction), round(img.height * fraction), img.width, img.height)
    )


def _crop_sides(fraction: float) -> Transform:
    def apply(img: Image.Image) -> Image.Image:
        dx, dy = round(img.width * fraction), round(img.height * fraction)
        return img.crop((dx, dy, img.width - dx, img.height - dy))

    return apply


TRANSFORMS: dict[str, Transform] = {
    "resize x0.5": _resize(0.5),
    "resize x0.25": _resize(0.25),
    "resize x2": _resize(2.0),
    "JPEG q90": _jpeg(90),
    "JPEG q75": _jpeg(75),
    "JPEG q50": _jpeg(50),
    "crop 1% corner": _crop_corner(0.01),
    "crop 2% corner": _crop_corner(0.02),
    "crop 5% corner": _crop_corner(0.05),
    "crop 10% corner": _crop_corner(0.10),
    "crop 5% each side": _crop_sides(0.05),
    "resize x0.5 + JPEG q75": lambda img: _jpeg(75)(_resize(0.5)(img)),
    "crop 5% + resize x0.5 + JPEG q75": lambda img: _jpeg(75)(_resize(0.5)(_crop_corner(0.05)(img))),
}


def load(archive: Path) -> list[tuple[str, Image.Image]]:
    out = []
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                handle = tar.extractfile(member)
                if handle is not None:
                    out.append((member.name, Image.open(io.BytesIO(handle.read())).convert("RGB")))
    return out


def distance_stats(values: list[int]) -> dict[str, object]:
    arr = np.asarray(values)
    return {
        "n": len(values),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "max": int(arr.max()),
        "recall": {str(t): float((arr <= t).mean()) for t in THRESHOLDS},
    }


def transformed(images: list[tuple[str, Image.Image]], n: int) -> dict[str, dict[str, object]]:
    rng = np.random.default_rng(0)
    picked = [images[i] for i in rng.choice(len(images), size=min(n, len(images)), replace=False)]
    base = [pdq.hash_image(img).hex for _, img in picked]
    out = {}
    for name, transform in TRANSFORMS.items():
        dists = [
            pdq.distance(h, pdq.hash_image(transform(img)).hex)
            for h, (_, img) in zip(base, picked, strict=True)
        ]
        out[name] = distance_stats(dists)
        print(f"{name:34} p50 {out[name]['p50']:5.1f} p99 {out[name]['p99']:5.1f} max {out[name]['max']}")
    return out


def pairwise(names: list[str], hashes: list[pdq.PdqHash]) -> dict[str, object]:
    words = np.stack([h.words() for h in hashes])
    quality = np.asarray([h.quality for h in hashes])
    n = len(hashes)
    nearest = np.full(n, 256, dtype=np.int64)
    nearest_good = np.full(n, 256, dtype=np.int64)
    counts = dict.fromkeys(THRESHOLDS, 0)
    counts_good = dict.fromkeys(THRESHOLDS, 0)
    good = quality >= pdq.MIN_QUALITY
    closest: list[tuple[int, int, int]] = []
    for i in range(n):
        d = np.bitwise_count(words[i + 1 :] ^ words[i]).sum(axis=1).astype(np.int64)
        if d.size == 0:
            continue
        both_good = good[i] & good[i + 1 :]
        for t in THRESHOLDS:
            counts[t] += int((d <= t).sum())
            counts_good[t] += int(((d <= t) & both_good).sum())
        nearest[i] = min(nearest[i], int(d.min()))
        np.minimum(nearest[i + 1 :], d, out=nearest[i + 1 :])
        if good[i]:
            dg = np.where(good[i + 1 :], d, 256)
            nearest_good[i] = min(nearest_good[i], int(dg.min()))
            np.minimum(nearest_good[i + 1 :], dg, out=nearest_good[i + 1 :])
        j = int(d.argmin())
        closest.append((int(d[j]), i, i + 1 + j))
    pairs = n * (n - 1) // 2
    pairs_good = int(good.sum()) * (int(good.sum()) - 1) // 2
    closest.sort()
    return {
        "images": n,
        "low_quality_images": int((~good).sum()),
        "pairs": pairs,
        "pair_match_rate": {str(t): counts[t] / pairs for t in THRESHOLDS},
        "pair_match_rate_quality_ok": {str(t): counts_good[t] / max(pairs_good, 1) for t in THRESHOLDS},
        "query_match_rate": {str(t): float((nearest <= t).mean()) for t in THRESHOLDS},
        "query_match_rate_quality_ok": {str(t): float((nearest_good[good] <= t).mean()) for t in THRESHOLDS},
        "nearest_other_p1": float(np.percentile(nearest, 1)),
        "nearest_other_p50": float(np.percentile(nearest, 50)),
        "closest_pairs": [
            {"distance": d, "a": names[i], "b": names[j], "quality": [int(quality[i]), int(quality[j])]}
            for d, i, j in closest[:25]
        ],
    }


def cost(tiles: list[Image.Image]) -> dict[str, float]:
    mosaics = []
    for k in range(0, 40, 4):
        m = Image.new("RGB", (1024, 1024))
        for q, tile in enumerate(tiles[k : k + 4]):
            m.paste(tile, ((q % 2) * 512, (q // 2) * 512))
        mosaics.append(m)
    import pdqhash

    def full(img: Image.Image) -> str:
        vector, _ = pdqhash.compute(np.asarray(img))
        return np.packbits(vector.astype(np.uint8)).tobytes().hex()

    def timed(fn: Callable[[Image.Image], object]) -> float:
        fn(mosaics[0])
        times = []
        for m in mosaics * 2:
            start = time.perf_counter()
            fn(m)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    drift = [pdq.distance(pdq.hash_image(m).hex, full(m)) for m in mosaics]
    return {
        "hash_1mp_downscaled_ms": timed(pdq.hash_image),
        "hash_1mp_full_ms": timed(full),
        "downscale_vs_full_distance_max": max(drift),
        "downscale_vs_full_distance_mean": statistics.mean(drift),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transformed", type=int, default=300, help="images per pack for part 1")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--parts", default="plain", help="plain (parts 1-3) or crops (part 4)")
    args = parser.parse_args(argv)
    packs = {name: load(DATASETS / f"{name}.tar.gz") for name in ("sd-vs-photos", "multigen")}
    if args.parts == "crops":
        result = crop_parts(packs, args.transformed, args.json)
    else:
        result = plain_parts(packs, args.transformed)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def crop_parts(
    packs: dict[str, list[tuple[str, Image.Image]]], n: int, out: Path | None
) -> dict[str, object]:
    """Part 4; each result is written to ``out`` as soon as it is measured (the part takes ~15 min)."""
    import _pdq_crops  # beside this file

    result: dict[str, object] = {"variants": len(_pdq_crops.cv.VARIANTS)}

    def save(key: str, value: object) -> None:
        result[key] = value
        if out:
            out.write_text(json.dumps(result, indent=1) + "\n")

    everything = [item for images in packs.values() for item in images]
    save("unrelated", _pdq_crops.unrelated([a for a, _ in everything], [b for _, b in everything]))
    print(json.dumps(result["unrelated"], indent=1)[:3000])
    for name, images in packs.items():
        save(f"survival {name}", _pdq_crops.survival([img for _, img in images], n))
    for name, images in packs.items():
        save(f"reverse {name}", _pdq_crops.reverse([img for _, img in images], min(n, 50)))
    return result


def plain_parts(packs: dict[str, list[tuple[str, Image.Image]]], n: int) -> dict[str, object]:
    result: dict[str, object] = {"cost": cost([img for _, img in packs["sd-vs-photos"][:40]])}
    print(result["cost"])
    result["transformed"] = {name: transformed(images, n) for name, images in packs.items()}
    everything = [item for images in packs.values() for item in images]
    hashes = [pdq.hash_image(img) for _, img in everything]
    result["unrelated"] = pairwise([name for name, _ in everything], hashes)
    print(json.dumps(result["unrelated"], indent=1)[:3000])
    return result


if __name__ == "__main__":
    sys.exit(main())
