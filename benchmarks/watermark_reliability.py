"""How reliably Stable Diffusion's invisible watermark decodes after common processing, and how often it
"decodes" in images that never carried it.

    PYTHONPATH=src .venv/bin/python benchmarks/watermark_reliability.py --carriers 60 \
        --json benchmarks/results/watermark-reliability.json

Needs the dev install (the reference encoder ``imwatermark`` imports torch and OpenCV); the decoder under
test is deeptrust's own (``deeptrust.evidence.watermark``), which needs neither.

1. Round trips: ``--carriers`` images of each class of sd-vs-photos (512×512; the FAKE ones are real Stable
   Diffusion 1.x outputs, the content the mark is meant for) are marked with the reference encoder
   (``WatermarkEncoder`` 'dwtDct', each payload as the reference scripts set it), then processed: saved
   losslessly (PNG), JPEG q95/q90/q75 with 4:4:4 and 4:2:0 chroma, resized (×0.5, ×0.9, ×2, bicubic),
   cropped by 8 and 16 pixels at the top left. A mark counts as read when the decoded bits are within the
   payload's ``max_errors`` (``deeptrust.evidence.watermark.PAYLOADS``).
2. False positives: every image of sd-vs-photos and multigen that is large enough (≥ 256×256; CIFAKE's
   32×32 are not), none marked by us: detections per payload, and the smallest bit-error fraction seen.
   Real photos must give none; a detection in a FAKE image is either a true mark or a false one.
3. Cost: decoding a 1 MP image (1000×1000), median of 20, one thread.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from math import comb
from pathlib import Path

import numpy as np
from PIL import Image

from deeptrust.evidence import watermark as wm

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"

Transform = Callable[[Image.Image], Image.Image]


def _jpeg(quality: int, subsampling: int) -> Transform:
    def apply(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=subsampling)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    return apply


def _png(img: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _resize(factor: float) -> Transform:
    def apply(img: Image.Image) -> Image.Image:
        size = (round(img.width * factor), round(img.height * factor))
        return img.resize(size, Image.Resampling.BICUBIC)

    return apply


def _crop(px: int) -> Transform:
    return lambda img: img.crop((px, px, img.width, img.height))


TRANSFORMS: dict[str, Transform] = {
    "lossless (PNG)": _png,
    "JPEG q95 4:4:4": _jpeg(95, 0),
    "JPEG q90 4:4:4": _jpeg(90, 0),
    "JPEG q75 4:4:4": _jpeg(75, 0),
    "JPEG q95 4:2:0": _jpeg(95, 2),
    "JPEG q90 4:2:0": _jpeg(90, 2),
    "JPEG q75 4:2:0": _jpeg(75, 2),
    "resize x0.5": _resize(0.5),
    "resize x0.9": _resize(0.9),
    "resize x2": _resize(2.0),
    "crop 8 px": _crop(8),
    "crop 16 px": _crop(16),
}


def iter_images(archive: Path) -> Iterator[tuple[str, str, Image.Image]]:
    """(member name, label, RGB image) of every JPEG in a dataset archive; label from the REAL/FAKE folder."""
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            label = next((p for p in parts if p in ("REAL", "FAKE")), None)
            handle = tar.extractfile(member)
            if label is None or handle is None:
                continue
            yield member.name, label, Image.open(io.BytesIO(handle.read())).convert("RGB")


def random_pass_rate(bits: int, max_errors: int) -> float:
    """The chance that ``bits`` random bits land within ``max_errors`` of a payload."""
    return sum(comb(bits, k) for k in range(max_errors + 1)) / 2**bits


def embed(img: Image.Image, payload: wm.Payload) -> Image.Image:
    from imwatermark import WatermarkEncoder  # the reference encoder (imports torch and cv2)

    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", list(payload.bits))
    bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])  # as the reference scripts call it
    return Image.fromarray(np.ascontiguousarray(encoder.encode(bgr, "dwtDct")[:, :, ::-1]))


def errors_of(img: Image.Image, payload: wm.Payload) -> int | None:
    if img.width * img.height < wm.MIN_PIXELS:
        return None
    return wm.payload_errors(wm.block_bits(np.asarray(img)))[payload.name]


def round_trips(carriers: dict[str, list[Image.Image]]) -> list[dict[str, object]]:
    rows = []
    for payload in wm.PAYLOADS:
        for label, images in carriers.items():
            marked = [embed(img, payload) for img in images]
            for name, transform in TRANSFORMS.items():
                errs = [errors_of(transform(img), payload) for img in marked]
                valid = [e for e in errs if e is not None]
                read = sum(e <= payload.max_errors for e in valid)
                rows.append(
                    {
                        "payload": payload.name,
                        "carrier": label,
                        "transform": name,
                        "n": len(errs),
                        "read": read,
                        "rate": read / len(errs),
                        "median_bit_error_fraction": statistics.median(valid) / len(payload.bits)
                        if valid
                        else None,
                    }
                )
                print(f"{payload.name:15} {label} {name:16} read {read}/{len(errs)}", flush=True)
    return rows


def false_positives(archives: list[Path]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for archive in archives:
        for member, label, img in iter_images(archive):
            if img.width * img.height < wm.MIN_PIXELS:
                continue
            group = f"{archive.name.split('.')[0]}/{label}"
            stats = out.setdefault(
                group,
                {"n": 0, "detections": {p.name: 0 for p in wm.PAYLOADS}, "closest": {}, "detected": []},
            )
            stats["n"] = int(stats["n"]) + 1  # type: ignore[call-overload]
            errors = wm.payload_errors(wm.block_bits(np.asarray(img)))
            for p in wm.PAYLOADS:
                fraction = errors[p.name] / len(p.bits)
                closest = stats["closest"]
                closest[p.name] = min(closest.get(p.name, 1.0), fraction)  # type: ignore[union-attr]
                if errors[p.name] <= p.max_errors:
                    stats["detections"][p.name] += 1  # type: ignore[index]
                    stats["detected"].append({"image": member, "payload": p.name})  # type: ignore[union-attr]
        print(f"false positives: {archive.name} done", flush=True)
    return out


def decode_cost_ms() -> float:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8))
    wm.detect(img)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        wm.detect(img)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def load_carriers(n: int) -> dict[str, list[Image.Image]]:
    carriers: dict[str, list[Image.Image]] = {"FAKE": [], "REAL": []}
    for _, label, img in iter_images(DATASETS / "sd-vs-photos.tar.gz"):
        if len(carriers[label]) < n:
            carriers[label].append(img)
        if all(len(v) >= n for v in carriers.values()):
            break
    return carriers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--carriers", type=int, default=60, help="marked images per class")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    payloads = {
        p.name: {
            "bits": len(p.bits),
            "max_errors": p.max_errors,
            "random_pass_rate": random_pass_rate(len(p.bits), p.max_errors),
        }
        for p in wm.PAYLOADS
    }
    result = {
        "payloads": payloads,
        "decode_1mp_ms": decode_cost_ms(),
        "round_trips": round_trips(load_carriers(args.carriers)),
        "false_positives": false_positives([DATASETS / "sd-vs-photos.tar.gz", DATASETS / "multigen.tar.gz"]),
    }
    print(json.dumps({k: result[k] for k in ("payloads", "decode_1mp_ms", "false_positives")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
