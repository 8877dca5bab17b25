"""The local engine: thread and process workers agree, and each distinct content is scored once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from deeptrust import Detector
from deeptrust.scan.engine_local import scan_local, windowed_map
from deeptrust.scan.results import Resolver, RowMaker
from deeptrust.scan.sources import iter_inputs, resolve_sources
from tests.scan.conftest import MODEL, make_store, visible_files


def run_local(folder, detector, **options):
    resolver = Resolver(RowMaker(detector))
    rows = []
    inputs = iter_inputs(resolve_sources([str(folder)]), skip=(), max_bytes=10**6)
    settings = {"workers": 2, "batch_size": 3, "max_bytes": 10**6} | options
    scan_local(inputs, detector=detector, resolver=resolver, emit=rows.extend, **settings)
    return {row["path"]: row for row in rows}, resolver


def test_every_input_gets_one_row_and_bad_files_error_rows(store, detector):
    rows, _ = run_local(store, detector)
    assert sorted(rows) == [str(p) for p in visible_files(store)]
    assert rows[str(store / "REAL" / "truncated.jpg")]["error"].startswith("corrupt_image: ")
    assert rows[str(store / "REAL" / "notes.txt")]["error"].startswith("unsupported_format: ")
    scored = [r for r in rows.values() if not r["error"]]
    assert all(r["label"] in ("FAKE", "REAL") and r["width"] == 32 for r in scored)


def test_identical_content_is_scored_once_and_copies_get_the_same_scores(tmp_path):
    folder = tmp_path / "copies"
    folder.mkdir()
    store = make_store(tmp_path / "store", per_class=2)
    original = (store / "REAL" / "real_000.jpg").read_bytes()
    for i in range(7):  # copies spread over several batches and workers
        (folder / f"copy_{i}.jpg").write_bytes(original)
    detector = Detector.load(MODEL, threads=1)
    scored = []
    predict = detector.predict_crops
    lock = threading.Lock()

    def counting(crops, **kwargs):
        with lock:
            scored.extend(len(c) for c in crops)
        return predict(crops, **kwargs)

    detector.predict_crops = counting
    rows, resolver = run_local(folder, detector, batch_size=2)
    assert len(rows) == 7 and len(scored) == 1
    assert len({(r["p_ai"], r["score_FAKE"], r["sha256"]) for r in rows.values()}) == 1
    assert resolver.duplicates == 6


def test_process_workers_give_the_same_rows_as_thread_workers(store, detector):
    threads, _ = run_local(store, detector)
    processes, _ = run_local(store, detector, decoder="processes")
    assert processes == threads


def test_windowed_map_keeps_order_and_bounds_what_is_in_flight():
    running, peak = 0, 0
    lock = threading.Lock()

    def work(i):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.001 * (i % 3))
        with lock:
            running -= 1
        return i * 10

    with ThreadPoolExecutor(8) as pool:
        assert list(windowed_map(pool, work, range(40), window=4)) == [i * 10 for i in range(40)]
    assert peak <= 4
