"""Evidence beyond the pixels: what it costs per image, and how reliable each kind is, measured.

    PYTHONPATH=src .venv/bin/python benchmarks/evidence.py --json benchmarks/results/evidence.json

1. Cost of ``collect`` (every reader, one thread) on images without metadata — synthetic JPEG, PNG, WebP
   and TIFF at 0.26 MP and 12 MP, and the real JPEGs of sd-vs-photos — and on files that carry some
   (AUTOMATIC1111 PNG, XMP, EXIF, a C2PA-signed JPEG). Best and median µs over ``--rounds``.
2. What the readers say on every file of the shared datasets (sd-vs-photos and multigen: 6 000 labelled
   real photos and generated images): entries by kind and signal per label. AI signals on real photos are
   false positives; hits on generated images are the recall in files as they circulate after re-encoding.
3. The shared C2PA fixtures with and without the SDK's test anchors (state, signal, strength).
4. Survival: files signed or tagged here, after what platforms do to uploads (re-encode as JPEG q90,
   resize to half, crop 10 %, strip nothing) — which kinds are still found, and as what.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.evidence._builders import (  # noqa: E402
    C2PA_DIR,
    TRUST_BUNDLE,
    created,
    encode,
    png_with_text,
    sign_c2pa,
    source_type_xmp,
    with_exif,
    with_xmp,
)

from deeptrust.evidence.collect import READERS, collect  # noqa: E402
from deeptrust.settings import Settings  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
# The readers of what a file says about itself; the pixel readers (watermark, PDQ) have their own
# benchmarks (watermark_reliability.py, pdq_reliability.py) and one row of their own below.
METADATA = [r for r in READERS if r[0] in ("c2pa", "iptc", "generator_metadata", "exif")]
A1111 = "a fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients plus noise: compresses like a photo, not like random bytes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def rechunk_png(png: bytes, size: int = 8192) -> bytes:
    """The same PNG with its image data in ``size``-byte IDAT chunks (libpng's default is 8 KiB)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    i, parts, idat = 8, [], b""
    while i < len(png):
        length, kind = struct.unpack_from(">I4s", png, i)
        body = png[i + 8 : i + 8 + length]
        if kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            parts += [chunk(b"IDAT", idat[k : k + size]) for k in range(0, len(idat), size)]
            parts.append(chunk(kind, body))
        else:
            parts.append(chunk(kind, body))
        i += 12 + length
    return png[:8] + b"".join(parts)


def timed(data: bytes, settings: Settings, rounds: int, readers=METADATA, pixels=None) -> dict[str, float]:
    collect(data, pixels, settings=settings, readers=readers)  # imports and caches warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        collect(data, pixels, settings=settings, readers=readers)
        times.append((time.perf_counter() - started) * 1e6)
    return {"best_us": round(min(times), 1), "median_us": round(statistics.median(times), 1)}


def members(archive: Path, limit: int | None = None):
    """(label, bytes) of every image in a dataset archive, streamed."""
    with tarfile.open(archive, "r|gz") as tar:
        n = 0
        for member in tar:
            if not member.isfile() or not member.name.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                continue
            label = "REAL" if "/REAL/" in member.name else "FAKE"
            yield label, tar.extractfile(member).read()  # type: ignore[union-attr]
            n += 1
            if limit and n >= limit:
                return


def cost(settings: Settings, rounds: int) -> dict[str, dict[str, float]]:
    small, large = photo(512, 512), photo(4096, 3072)
    cases = {f"no metadata, {fmt} 512x512": encode(small, fmt) for fmt in ("JPEG", "PNG", "WEBP", "TIFF")}
    cases |= {f"no metadata, {fmt} 12.6 MP": encode(large, fmt) for fmt in ("JPEG", "PNG", "WEBP", "TIFF")}
    cases["no metadata, PNG 12.6 MP in 8 KiB IDAT chunks"] = rechunk_png(cases["no metadata, PNG 12.6 MP"])
    cases["A1111 parameters, PNG 512x512"] = png_with_text({"parameters": A1111}, img=small)
    cases["IPTC XMP, JPEG 512x512"] = with_xmp("JPEG", source_type_xmp("trainedAlgorithmicMedia"), small)
    cases["EXIF camera + Software, JPEG"] = with_exif("JPEG", software="Adobe Lightroom", make="Canon")
    cases["C2PA signed, JPEG 512x512"] = sign_c2pa(
        encode(small, "JPEG"), "JPEG", actions=created("trainedAlgorithmicMedia")
    )
    out = {name: timed(data, settings, rounds) for name, data in cases.items()}
    jpeg = cases["no metadata, JPEG 512x512"]
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    every = ", ".join(kind for kind, _ in READERS)
    out[f"every registered reader ({every}), JPEG 512x512, pixels given"] = timed(
        jpeg, settings, max(5, rounds // 20), readers=READERS, pixels=pixels
    )
    real = [data for _, data in members(DATASETS / "sd-vs-photos.tar.gz", 200)]
    per_file = []
    for data in real:
        per_file.append(timed(data, settings, max(3, rounds // 10))["best_us"])
    out["sd-vs-photos JPEGs (200, 512x512 q95)"] = {
        "best_us": round(min(per_file), 1),
        "median_us": round(statistics.median(per_file), 1),
        "max_us": round(max(per_file), 1),
    }
    return out


def datasets(settings: Settings) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name in ("sd-vs-photos", "multigen"):
        archive = DATASETS / f"{name}.tar.gz"
        if not archive.exists():
            continue
        files: Counter[str] = Counter()
        entries: Counter[str] = Counter()
        verdict_ai: Counter[str] = Counter()
        for label, data in members(archive):
            files[label] += 1
            found = collect(data, settings=settings, readers=METADATA)
            for e in found:
                entries[f"{label} {e.kind}:{e.signal}:{e.strength}"] += 1
            if any(e.signal == "ai" and e.strength in ("strong", "conclusive") for e in found):
                verdict_ai[label] += 1
        out[name] = {
            "files": dict(files),
            "entries": dict(sorted(entries.items())),
            "decisive_ai_evidence": dict(verdict_ai),
        }
    return out


def fixtures() -> list[dict[str, str]]:
    rows = []
    for path in sorted(p for p in C2PA_DIR.iterdir() if p.suffix in (".jpg", ".jpeg", ".png", ".webp")):
        row = {"file": path.name}
        for anchors, settings in (("test anchors", str(TRUST_BUNDLE)), ("no anchors", "")):
            found = collect(
                path.read_bytes(), settings=Settings(c2pa_trust_anchors=settings), readers=METADATA
            )
            c2pa = next((e for e in found if e.kind == "c2pa"), None)
            row[anchors] = (
                f"{c2pa.data.get('state')} → {c2pa.signal}/{c2pa.strength}" if c2pa else "no manifest"
            )
        rows.append(row)
    return rows


def processed(data: bytes) -> dict[str, bytes]:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    return {
        "as uploaded": data,
        "re-encoded JPEG q90": encode(img, "JPEG", quality=90),
        "resized to half, JPEG": encode(img.resize((w // 2, h // 2)), "JPEG", quality=90),
        "cropped 10 %, PNG": encode(img.crop((w // 10, h // 10, w, h)), "PNG"),
    }


def survival(settings: Settings) -> dict[str, dict[str, str]]:
    base = photo(512, 512, seed=5)
    carriers = {
        "C2PA trainedAlgorithmicMedia (JPEG)": sign_c2pa(
            encode(base, "JPEG"), "JPEG", actions=created("trainedAlgorithmicMedia")
        ),
        "IPTC DigitalSourceType (JPEG XMP)": with_xmp(
            "JPEG", source_type_xmp("trainedAlgorithmicMedia"), base
        ),
        "A1111 parameters (PNG)": png_with_text({"parameters": A1111}, img=base),
    }
    out: dict[str, dict[str, str]] = {}
    for name, data in carriers.items():
        out[name] = {}
        for step, variant in processed(data).items():
            found = [
                f"{e.kind}:{e.signal}/{e.strength}"
                for e in collect(variant, settings=settings, readers=METADATA)
            ]
            out[name][step] = ", ".join(found) or "nothing"
    # An editor that keeps the APP11 segments but changes the picture (what a metadata-preserving
    # tool does): the manifest survives and is now Invalid.
    signed = carriers["C2PA trainedAlgorithmicMedia (JPEG)"]
    cut = signed.index(b"\xff\xda")
    edited = bytearray(signed)
    edited[cut + 200] ^= 0x01
    found = [
        f"{e.kind}:{e.signal}/{e.strength}"
        for e in collect(bytes(edited), settings=settings, readers=METADATA)
    ]
    out["C2PA trainedAlgorithmicMedia (JPEG)"]["one pixel-data byte changed, segments kept"] = ", ".join(
        found
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = Settings(c2pa_trust_anchors=str(TRUST_BUNDLE))
    results = {
        "machine": "2-core Intel Xeon VM, shared with other jobs",
        "metadata_readers": [kind for kind, _ in METADATA],
        "registered_readers": [kind for kind, _ in READERS],
        "cost": cost(settings, args.rounds),
        "datasets": datasets(settings),
        "c2pa_fixtures": fixtures(),
        "survival": survival(settings),
    }
    print("| image | best µs | median µs |\n|---|---:|---:|")
    for name, row in results["cost"].items():
        print(f"| {name} | {row['best_us']} | {row['median_us']} |")
    print(json.dumps({k: results[k] for k in ("datasets", "c2pa_fixtures", "survival")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
