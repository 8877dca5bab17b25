"""Crop variants (``deeptrust.hashes.variants``) measured: the ``crops`` part of pdq_reliability.py.

1. Survival: an image listed with its crop variants, looked up after a crop of 1-10 % of one of several
   shapes (one corner, the opposite corner, one side, every side, left and right, a free rectangle whose
   four edges each lose a random 0-f), alone or followed by JPEG q75 or resize ×0.5 + JPEG q75: the share
   found within the distance through the hash alone and through hash + variants.
2. The reverse (a listed *cropped* image, the full one uploaded): with and without query-side crops
   (centre crops of the query, hashed at full size or from a 2× reduced copy), and what those cost.
3. False matches: every image of both packs listed with its variants, every other image as the query
   (ordered pairs): the rate of pairs within each distance through the hash alone and through any variant,
   and the closest pairs through a variant, to look at.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from deeptrust.evidence import pdq
from deeptrust.hashes import variants as cv

THRESHOLDS = (16, 24, 31, 40)
SHAPES = {
    "top-left": (1, 1, 0, 0),
    "bottom-right": (0, 0, 1, 1),
    "bottom": (0, 0, 0, 1),
    "each side": (1, 1, 1, 1),
    "left and right": (1, 0, 1, 0),
}
FRACTIONS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10)
QUERY_CROPS = (0.025, 0.05, 0.075, 0.10)  # centre crops of the query (part 2)


def _jpeg(img: Image.Image, quality: int = 75) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=2)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _half(img: Image.Image) -> Image.Image:
    return img.resize((round(img.width / 2), round(img.height / 2)), Image.Resampling.BICUBIC)


def _queries(rng: np.random.Generator) -> dict[str, Callable[[Image.Image], Image.Image]]:
    out: dict[str, Callable[[Image.Image], Image.Image]] = {}
    for shape, mask in SHAPES.items():
        for f in FRACTIONS:
            box = tuple(m * f for m in mask)
            out[f"crop {f * 100:g}% {shape}"] = lambda img, box=box: cv.crop(img, box)
    for f in (0.02, 0.05, 0.10):
        box = (f, f, 0.0, 0.0)
        out[f"crop {f * 100:g}% top-left + JPEG q75"] = lambda img, box=box: _jpeg(cv.crop(img, box))
        out[f"crop {f * 100:g}% top-left + resize x0.5 + JPEG q75"] = lambda img, box=box: _jpeg(
            _half(cv.crop(img, box))
        )
        out[f"crop 0-{f * 100:g}% free rectangle"] = lambda img, f=f: cv.crop(
            img, tuple(float(x) for x in rng.uniform(0, f, 4))
        )
    return out


def _min_distance(listed: np.ndarray, query: np.ndarray) -> int:
    return int(np.bitwise_count(listed[:, None, :] ^ query[None, :, :]).sum(axis=2).min())


def _listed_words(img: Image.Image) -> np.ndarray:
    return np.stack([pdq.hash_image(img).words(), *(h.words() for _, h in cv.hash_variants(img))])


def survival(images: list[Image.Image], n: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    picked = [images[i] for i in rng.choice(len(images), size=min(n, len(images)), replace=False)]
    start = time.thread_time()
    listed = [_listed_words(img) for img in picked]
    variant_ms = (time.thread_time() - start) / len(picked) * 1000
    out: dict[str, object] = {"images": len(picked), "listed_with_variants_cpu_ms": variant_ms}
    rows: dict[str, dict[str, float]] = {}
    for name, transform in _queries(rng).items():
        plain, best = [], []
        for words, img in zip(listed, picked, strict=True):
            query = pdq.hash_image(transform(img)).words()[None, :]
            plain.append(_min_distance(words[:1], query))
            best.append(_min_distance(words, query))
        p, b = np.asarray(plain), np.asarray(best)
        rows[name] = {"hash_only": float((p <= 31).mean()), "with_variants": float((b <= 31).mean())}
        print(f"{name:48}", rows[name])
    out["found_within_31"] = rows
    return out


def _query_crops(img: Image.Image, reduce: int) -> np.ndarray:
    small = img.reduce(reduce) if reduce > 1 else img
    hashes = [pdq.hash_image(img).words()]
    hashes += [pdq.hash_image(cv.crop(small, (f, f, f, f))).words() for f in QUERY_CROPS]
    return np.stack(hashes)


def reverse(images: list[Image.Image], n: int) -> dict[str, object]:
    """A listed crop of the image (with its variants), the full image as the query."""
    rng = np.random.default_rng(1)
    picked = [images[i] for i in rng.choice(len(images), size=min(n, len(images)), replace=False)]
    cost = {}
    queries = {}
    for reduce in (1, 2):
        start = time.thread_time()
        queries[reduce] = [_query_crops(_jpeg(img), reduce) for img in picked]
        cost[f"query_crops_reduce{reduce}_cpu_ms"] = (time.thread_time() - start) / len(picked) * 1000
    rows: dict[str, dict[str, float]] = {}
    for shape in ("top-left", "each side", "bottom"):
        for f in (0.03, 0.05, 0.08):
            box = tuple(m * f for m in SHAPES[shape])
            found = {"hash_only": [], "listed_variants": [], "query_crops": [], "query_crops_reduced": []}
            for k, img in enumerate(picked):
                listed = _listed_words(cv.crop(img, box))
                found["hash_only"].append(_min_distance(listed[:1], queries[1][k][:1]))
                found["listed_variants"].append(_min_distance(listed, queries[1][k][:1]))
                found["query_crops"].append(_min_distance(listed, queries[1][k]))
                found["query_crops_reduced"].append(_min_distance(listed, queries[2][k]))
            name = f"listed crop {f * 100:g}% {shape}"
            rows[name] = {k: float((np.asarray(v) <= 31).mean()) for k, v in found.items()}
            print(name, rows[name])
    return {"images": len(picked), **cost, "found_within_31": rows}


def unrelated(names: list[str], images: list[Image.Image]) -> dict[str, object]:
    """Every image listed with its variants against every other image as the query (ordered pairs)."""
    start = time.perf_counter()
    hashes = [pdq.hash_image(img) for img in images]
    listed = [
        np.stack([h.words(), *(v.words() for _, v in cv.hash_variants(img))])
        for h, img in zip(hashes, images, strict=True)
    ]
    hashing_s = time.perf_counter() - start
    queries = np.stack([w[0] for w in listed])
    quality = np.asarray([h.quality >= pdq.MIN_QUALITY for h in hashes])
    n = len(images)
    direct = dict.fromkeys(THRESHOLDS, 0)
    via_any = dict.fromkeys(THRESHOLDS, 0)
    nearest_any = np.full(n, 256)
    closest: list[tuple[int, int, int, int]] = []
    for i, words in enumerate(listed):
        d = np.bitwise_count(words[:, None, :] ^ queries[None, :, :]).sum(axis=2)  # (1 + K, n)
        d[:, i] = 256
        d[:, ~quality] = 256  # low-quality queries are never matched
        if not quality[i]:
            d[:] = 256
        best = d.min(axis=0)
        for t in THRESHOLDS:
            direct[t] += int((d[0] <= t).sum())
            via_any[t] += int((best <= t).sum())
        nearest_any[i] = int(best.min())
        j = int(best.argmin())
        closest.append((int(best[j]), int(d[0, j]), i, j))
    pairs = int(quality.sum()) * (int(quality.sum()) - 1)
    closest.sort()
    return {
        "images": n,
        "variants_per_image_mean": float(np.mean([len(w) - 1 for w in listed])),
        "ordered_pairs_quality_ok": pairs,
        "hashing_s": hashing_s,
        "pairs_within": {str(t): {"hash_only": direct[t], "with_variants": via_any[t]} for t in THRESHOLDS},
        "pair_rate": {
            str(t): {"hash_only": direct[t] / pairs, "with_variants": via_any[t] / pairs} for t in THRESHOLDS
        },
        "listed_images_with_any_false_match_within_31": int((nearest_any <= 31).sum()),
        "closest_pairs": [
            {"distance_any": d, "distance_hash": d0, "listed": names[i], "query": names[j]}
            for d, d0, i, j in closest[:25]
        ],
    }
