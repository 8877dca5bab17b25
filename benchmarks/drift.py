"""Drift detection targets, by replay: detection delay after a switch of source, false alarms on a
long replay of unchanged traffic, and the cost of one background test.

    .venv/bin/python benchmarks/drift.py --model photos --cache /tmp/drift-cache \
        --json benchmarks/results/drift-photos.json

What is replayed: every image of the pools below is scored once by the model (p_ai, the pooled
features of the same ONNX call, and the header properties) and cached; a simulated request then draws
an image from its pool and feeds those cached values to the service's own ``DriftMonitor.observe``,
and ``DriftMonitor.evaluate`` runs every ``--stride`` requests — exactly what the service computes per
request and per background wake-up, without running the model a million times. The service tests when
a window gained DEEPTRUST_DRIFT_EVERY (100) observations or DEEPTRUST_DRIFT_INTERVAL_S (10 s) passed,
whichever comes first: at ``--rate`` 10 requests/s or more that is every 100 requests (``--stride``).
A simulated day is ``24 h × rate`` requests: 864 000 and 8 640 tests at 10 requests/s.

Pools (the ``photos`` model's own splits of each part). References are profiles of held-out images
only: on its own training images the model is more confident, and a reference of train-split scores
flags unchanged held-out traffic as drift (measured: 38 of 180 tests on the score signal).
* switch: reference = sd-vs-photos val + test (259 images); before the switch, traffic drawn from those
  images; after it, multigen's test split (1 035). Requests after the switch until the first test that
  flags drift, over ``--repeats`` replays with the switch at a random point between two tests.
* unchanged, multigen: reference = a profile of multigen's val split (623), traffic = its test split.
* unchanged, shipped card: the card's own profile (its 720 validation images: multigen val + sd-vs-photos
  val) against the two parts' test splits mixed in the same proportion as that validation set.
sd-vs-photos alone is too small for an unchanged-traffic day (259 held-out images: a reference and a
replay pool would share or lack images).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from deeptrust.detector import Detector  # noqa: E402
from deeptrust.monitor.collect import Collected, collect  # noqa: E402
from deeptrust.monitor.profile import build_profile  # noqa: E402
from deeptrust.monitor.windows import DriftMonitor  # noqa: E402

POOLS = {  # name → (--data part of the photos card, split)
    "sd_val": ("photos-1.0-data", "val"),
    "sd_test": ("photos-1.0-data", "test"),
    "mg_val": ("multigen", "val"),
    "mg_test": ("multigen", "test"),
}


def load_pool(detector: Detector, name: str, cache: Path) -> Collected:
    path = cache / f"{name}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        props = json.loads((cache / f"{name}.json").read_text())
        return Collected(list(z["paths"]), z["p_ai"], props, z["embeddings"], [])
    from deeptrust.monitor.cli import _paths

    part, split = POOLS[name]
    paths, _ = _paths(detector.card, [part], split, None, 0)
    t0 = time.perf_counter()
    c = collect(detector, paths)
    print(f"  scored {name}: {len(c.paths)} images in {time.perf_counter() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, paths=np.asarray(c.paths), p_ai=c.p_ai, embeddings=c.embeddings)
    (cache / f"{name}.json").write_text(json.dumps(c.properties))
    return c


def merge(*pools: Collected) -> Collected:
    return Collected(
        [p for c in pools for p in c.paths],
        np.concatenate([c.p_ai for c in pools]),
        [p for c in pools for p in c.properties],
        np.concatenate([c.embeddings for c in pools]),
    )


def card_with(profile: dict[str, Any], name: str) -> Any:
    return SimpleNamespace(name=name, version="bench", drift_profile=profile)


class Replay:
    """One simulated service: a monitor, a card, and the traffic fed to it."""

    def __init__(self, card: Any, args: argparse.Namespace, seed: int):
        self.card = card
        self.monitor = DriftMonitor(
            window=args.window, min_window=args.min_window, alpha=args.alpha,
            permutations=args.permutations, seed=seed,
        )  # fmt: skip
        self.rng = np.random.default_rng(seed)
        self.eval_seconds: list[float] = []

    def feed(self, pool: Collected, n: int, weights: np.ndarray | None = None) -> None:
        for i in self.rng.choice(len(pool.p_ai), size=n, p=weights):
            self.monitor.observe(
                self.card, p_ai=float(pool.p_ai[i]), properties=pool.properties[i], pooled=pool.embeddings[i]
            )

    def test(self) -> tuple[str, ...]:
        t0 = time.perf_counter()
        self.monitor.evaluate()
        self.eval_seconds.append(time.perf_counter() - t0)
        state = self.monitor.state(self.card.name, self.card.version)
        self.last = state.signals
        return state.drifting


def detection(card: Any, before: Collected, after: Collected, args: argparse.Namespace) -> dict[str, Any]:
    """Requests after the switch until the first test that flags drift (any signal, and each)."""
    delays, first_signal, flagged_before = [], {}, 0
    for rep in range(args.repeats):
        r = Replay(card, args, seed=1000 + rep)
        r.feed(before, args.window)
        offset = int(r.rng.integers(0, args.stride))  # where the switch falls between two tests
        r.feed(before, offset)
        flagged_before += bool(r.test())  # the last test before the switch, on a full window
        seen, sent, first = set(), 0, None
        while sent < 2 * args.window:  # two windows of the new traffic: every signal's first flag
            step = args.stride if sent or offset == 0 else args.stride - offset
            r.feed(after, step)
            sent += step
            drifting = r.test()
            if drifting and first is None:
                first = sent
            for s in drifting:
                if s not in seen:
                    seen.add(s)
                    first_signal.setdefault(s, []).append(sent)
        delays.append(first if first is not None else None)
    found = [d for d in delays if d is not None]
    return {
        "repeats": args.repeats,
        "flagged_before_the_switch": flagged_before,
        "detected": len(found),
        "requests_to_detection": {
            "median": float(np.median(found)) if found else None,
            "max": max(found) if found else None,
            "all": delays,
        },
        "per_signal_median": {s: float(np.median(v)) for s, v in sorted(first_signal.items())},
        "per_signal_detected_in": {s: len(v) for s, v in sorted(first_signal.items())},
    }


def false_alarms(card: Any, pool: Collected, args: argparse.Namespace, weights=None) -> dict[str, Any]:
    """A day of unchanged traffic: tests, tests that flag drift, alarm onsets (0 → 1) per signal."""
    tests = int(args.hours * 3600 * args.rate / args.stride)
    r = Replay(card, args, seed=7)
    r.feed(pool, args.window, weights)
    flagged, onsets, per_signal, peak = 0, 0, {}, {}
    previous: tuple[str, ...] = ()
    t0 = time.perf_counter()
    for k in range(tests):
        r.feed(pool, args.stride, weights)
        drifting = r.test()
        flagged += bool(drifting)
        onsets += bool(drifting) and not previous
        for s in drifting:
            per_signal[s] = per_signal.get(s, 0) + 1
        for s, v in r.last.items():  # how close unchanged traffic came to each threshold
            peak[s] = max(peak.get(s, 0.0), v["statistic"] / v["threshold"] if v["threshold"] > 0 else 0.0)
        previous = drifting
        if k % 1000 == 0:
            print(f"  {k}/{tests} tests, {flagged} flagged, {time.perf_counter() - t0:.0f} s", flush=True)
    ev = np.asarray(r.eval_seconds) * 1e3
    return {
        "simulated_hours": args.hours,
        "requests": tests * args.stride + args.window,
        "tests": tests,
        "tests_flagging_drift": flagged,
        "alarm_onsets": onsets,
        "alarm_onsets_per_24h": onsets * 24 / args.hours,
        "flagged_tests_per_signal": per_signal,
        "max_statistic_over_threshold": {s: round(v, 3) for s, v in sorted(peak.items())},
        "test_ms": {"p50": float(np.percentile(ev, 50)), "p95": float(np.percentile(ev, 95))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="photos")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/drift-cache"))
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--min-window", type=int, default=100)
    ap.add_argument("--stride", type=int, default=100, help="requests between two tests")
    ap.add_argument("--rate", type=float, default=10.0, help="simulated requests per second")
    ap.add_argument("--alpha", type=float, default=1e-6)
    ap.add_argument("--permutations", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--skip-card", action="store_true", help="skip the shipped card's unchanged-traffic day")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    detector = Detector.load(args.model)
    pools = {name: load_pool(detector, name, args.cache) for name in POOLS}
    sd = merge(pools["sd_val"], pools["sd_test"])
    sd_profile = build_profile(
        sd.p_ai, sd.properties, sd.embeddings, data={"parts": [{"name": "sd held-out"}]}
    )
    sd_card = card_with(sd_profile, "sd-reference")
    mg = pools["mg_val"]
    mg_card = card_with(build_profile(mg.p_ai, mg.properties, mg.embeddings, data={}), "multigen-reference")
    out: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "cache")},
        "pools": {name: len(c.p_ai) for name, c in pools.items()},
    }
    print("switch sd-vs-photos → multigen", flush=True)
    out["switch_sd_to_multigen"] = detection(sd_card, sd, pools["mg_test"], args)
    print(json.dumps(out["switch_sd_to_multigen"], indent=1), flush=True)
    print("unchanged multigen traffic", flush=True)
    out["unchanged_multigen"] = false_alarms(mg_card, pools["mg_test"], args)
    print(json.dumps(out["unchanged_multigen"], indent=1), flush=True)
    if not args.skip_card:
        mixed = merge(pools["mg_test"], pools["sd_test"])
        n_mg, n_sd = len(pools["mg_test"].p_ai), len(pools["sd_test"].p_ai)
        share = 623 / 720  # the card's validation set: multigen val 623 + sd-vs-photos val 97
        weights = np.concatenate([np.full(n_mg, share / n_mg), np.full(n_sd, (1 - share) / n_sd)])
        print("unchanged traffic against the shipped card's profile", flush=True)
        out["unchanged_card_profile"] = false_alarms(
            card_with(detector.card.drift_profile, "photos"), mixed, args, weights
        )
        print(json.dumps(out["unchanged_card_profile"], indent=1), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
