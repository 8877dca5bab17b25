"""Nearest-hash lookup over 1 M PDQ hashes: the multi-index lookup against a numpy full scan.

    PYTHONPATH=src .venv/bin/python benchmarks/hash_lookup.py --size 1000000 --queries 500 \
        --json benchmarks/results/hash-lookup.json

The listed hashes are random 256-bit strings (real PDQ hashes are less uniform; ``pdq_reliability.py``
measures their spread). Queries: half are listed hashes with 0-31 random bits flipped (must be found, at
the right row and distance), half are random (must miss). Latency per query, p50 and p99, one thread
(wall clock, and the thread's CPU time: on a shared machine the difference is waiting for a core),
after one warm-up query; build time of the index and its memory. ``--store`` also loads the hashes
through a SQLite hash store (import + snapshot) to time the service's start.

``--variants K``: every listed entry also has K crop variants (``deeptrust.hashes.variants``; 38 today),
so ``--size`` rows hold ``size // (1 + K)`` entries; the lookups then go through ``HashMatcher.lookup``
(index + mapping a variant row to its entry), as the service does. Variant hashes are random here too:
crops of one image are 40-120 bits from its hash, as unrelated hashes are to the index.

    PYTHONPATH=src .venv/bin/python benchmarks/hash_lookup.py --size 1000000 --variants 38 \
        --json benchmarks/results/hash-lookup-variants.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deeptrust.hashes.index import HashIndex


def flip(words: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(words.astype(">u8").view(np.uint8))
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": max(ms)}


def time_lookups(index: HashIndex, queries: list[tuple[np.ndarray, int | None, int]], scan: bool) -> dict:
    lookup = index.nearest_scan if scan else index.nearest
    lookup(queries[0][0], 31)
    found = wrong = 0
    ms, cpu_ms = [], []
    for query, row, flipped in queries:
        start, cpu = time.perf_counter(), time.thread_time()
        hit = lookup(query, 31)
        ms.append((time.perf_counter() - start) * 1000)
        cpu_ms.append((time.thread_time() - cpu) * 1000)
        if row is None:
            wrong += hit is not None
        elif hit is not None and hit.row == row and hit.distance == flipped:
            found += 1
        else:
            wrong += 1
    # the work itself, without the time spent waiting for a core
    cpu = {f"cpu_{k}": v for k, v in percentiles(cpu_ms).items()}
    return {**percentiles(ms), **cpu, "found": found, "wrong": wrong}


def matcher_of(words: np.ndarray, variants: int):
    """A HashMatcher over ``words`` as entries followed by their variants (``variants`` per entry)."""
    from deeptrust.hashes.matcher import HashMatcher
    from deeptrust.hashes.store import Snapshot

    entries = words.shape[0] // (1 + variants)
    owner = np.concatenate([np.arange(entries), np.repeat(np.arange(entries), variants)])
    owner = np.concatenate([owner, np.zeros(words.shape[0] - owner.size, np.int64)])  # remainder rows
    codes = np.concatenate([np.zeros(entries, np.uint8), np.ones(words.shape[0] - entries, np.uint8)])
    hashes = [w.astype(">u8").tobytes().hex() for w in words[:entries]]
    snapshot = Snapshot(
        words, owner, codes, hashes, ["ai"] * entries, ["bench"] * entries, [None] * entries, (0, 0, "")
    )
    matcher = HashMatcher(None)
    matcher._snapshot, matcher._index = snapshot, HashIndex(words)
    return matcher, owner


def time_matcher(matcher, owner: np.ndarray, queries: list[tuple[np.ndarray, int | None, int]]) -> dict:
    from deeptrust.evidence.pdq import PdqHash, words_to_hex

    pdqs = [(PdqHash(words_to_hex(q), 100), row, n) for q, row, n in queries]
    matcher.lookup(pdqs[0][0])
    found = wrong = 0
    ms, cpu_ms = [], []
    for query, row, flipped in pdqs:
        start, cpu = time.perf_counter(), time.thread_time()
        hit = matcher.lookup(query)
        ms.append((time.perf_counter() - start) * 1000)
        cpu_ms.append((time.thread_time() - cpu) * 1000)
        if row is None:
            wrong += hit is not None
        elif hit is not None and hit.hash == matcher._snapshot.hashes[owner[row]] and hit.distance <= flipped:
            found += 1
        else:
            wrong += 1
    cpu = {f"cpu_{k}": v for k, v in percentiles(cpu_ms).items()}
    return {**percentiles(ms), **cpu, "found": found, "wrong": wrong}


def store_load(words: np.ndarray) -> dict[str, float]:
    from deeptrust.hashes.store import HashStore

    with tempfile.TemporaryDirectory() as tmp:
        rows = "".join(f"{w.astype('>u8').tobytes().hex()},ai\n" for w in words)
        with HashStore(f"sqlite:///{Path(tmp) / 'h.db'}") as store:
            store.create_schema()
            start = time.perf_counter()
            store.import_csv(rows.encode(), list_name="bench")
            imported = time.perf_counter() - start
            start = time.perf_counter()
            snapshot = store.snapshot()
            loaded = time.perf_counter() - start
            assert snapshot.words.shape == words.shape
    return {"import_s": imported, "snapshot_s": loaded}


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--store", action="store_true", help="also time a SQLite import + snapshot")
    parser.add_argument("--variants", type=int, default=0, help="crop variants per entry (see above)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**64, (args.size, 4), dtype=np.uint64)
    start = time.perf_counter()
    if args.variants:
        matcher, owner = matcher_of(words, args.variants)
        index = matcher._index
    else:
        index = HashIndex(words)
    build_s = time.perf_counter() - start
    queries: list[tuple[np.ndarray, int | None, int]] = []
    for k in range(args.queries):
        if k % 2:
            queries.append((rng.integers(0, 2**64, 4, dtype=np.uint64), None, 0))
        else:
            row, n = int(rng.integers(0, args.size)), int(rng.integers(0, 32))
            queries.append((flip(words[row], n, rng), row, n))
    result = {
        "size": args.size,
        "variants_per_entry": args.variants,
        "entries": args.size // (1 + args.variants),
        "queries": args.queries,
        "build_s": build_s,
        "index_mb": (index.words.nbytes + index._order.nbytes + index._starts.nbytes) / 2**20,
        "multi_index": time_lookups(index, queries, scan=False),
    }
    if args.variants:
        result["matcher_lookup"] = time_matcher(matcher, owner, queries)
    result["full_scan"] = time_lookups(index, queries[: max(20, args.queries // 10)], scan=True)
    if args.store:
        result["sqlite"] = store_load(words)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
