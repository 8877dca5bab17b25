"""The local engine: read and hash ahead in I/O threads, decode + score batches in workers.

    inputs ─► I/O threads: read bytes, sha256 (in order, a window ahead)
           ─► main thread: error rows, copies (content seen before), batches of new content
           ─► workers: decode, preprocess, predict (one ONNX Runtime session shared by threads,
              or one per process) ─► main thread: rows, in batch order ─► emit

Each worker decodes *and* runs the model for its own batch, so on N cores N workers with one ONNX
Runtime thread each keep every core busy without oversubscribing them: ONNX Runtime's spinning
thread pool competes badly with decoder threads. Deduplication happens on the main thread before
anything is decoded, so a copy costs a read and a hash, never a decode or an inference.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from typing import Literal, TypeVar

from deeptrust.detector import Detector
from deeptrust.scan.results import Outcome, Resolver, Row
from deeptrust.scan.scoring import init_worker, score_batch, score_in_worker, sha256_hex
from deeptrust.scan.sources import Input, read_input

T = TypeVar("T")
R = TypeVar("R")
Emit = Callable[[list[Row]], None]
Decoder = Literal["threads", "processes"]
IO_THREADS = 4  # reading is I/O; hashing releases the GIL


def scan_local(
    inputs: Iterable[Input],
    *,
    detector: Detector,
    resolver: Resolver,
    emit: Emit,
    workers: int,
    batch_size: int,
    max_bytes: int,
    decoder: Decoder = "threads",
    threads: int = 1,
) -> None:
    """Score every input and ``emit`` its row (copies may come after their owner's batch).

    ``threads`` are ONNX Runtime threads per worker process (``decoder="processes"``); thread
    workers share ``detector`` as it was loaded.
    """
    read = partial(_read_and_hash, max_bytes=max_bytes)
    with (
        ThreadPoolExecutor(IO_THREADS, thread_name_prefix="scan-read") as io_pool,
        _pool(detector, workers, decoder, threads) as pool,
    ):

        def submit(items: list[bytes]) -> Future[list[Outcome]]:
            if decoder == "threads":
                return pool.submit(score_batch, detector, items)
            return pool.submit(score_in_worker, items)

        batcher = _Batcher(submit, resolver, emit, batch_size=batch_size, max_in_flight=2 * workers)
        for path, sha, data, error in windowed_map(io_pool, read, inputs, window=2 * batch_size):
            batcher.add(path, sha, data, error)
        batcher.close()


def windowed_map(pool: Executor, fn: Callable[[T], R], items: Iterable[T], *, window: int) -> Iterator[R]:
    """``pool.map`` in order, but with at most ``window`` items in flight (inputs may be millions)."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _pool(detector: Detector, workers: int, decoder: Decoder, threads: int) -> Executor:
    if decoder == "threads":
        return ThreadPoolExecutor(workers, thread_name_prefix="scan-score")
    if decoder != "processes":
        raise ValueError(f"decoder must be 'threads' or 'processes', got {decoder!r}")
    return ProcessPoolExecutor(
        workers,
        # spawn, not fork: the parent already runs I/O threads and an ONNX Runtime session
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(str(detector.path), threads, detector.max_pixels),
    )


def _read_and_hash(item: Input, *, max_bytes: int) -> tuple[str, str, bytes | None, str]:
    data, error = read_input(item, max_bytes=max_bytes)
    return item.path, sha256_hex(data) if data is not None else "", data, error


class _Batcher:
    """Turns read inputs into batches of new content, keeps a bounded number in flight, and
    resolves finished batches in submission order."""

    def __init__(
        self,
        submit: Callable[[list[bytes]], Future[list[Outcome]]],
        resolver: Resolver,
        emit: Emit,
        *,
        batch_size: int,
        max_in_flight: int,
    ) -> None:
        self.submit, self.resolver, self.emit = submit, resolver, emit
        self.batch_size, self.max_in_flight = batch_size, max_in_flight
        self.batch: list[tuple[str, str, bytes]] = []
        self.in_flight: deque[tuple[Future[list[Outcome]], list[tuple[str, str]]]] = deque()

    def add(self, path: str, sha: str, data: bytes | None, error: str) -> None:
        if error or data is None:
            self.emit(self.resolver.failed(path, sha, error or "unreadable: no data"))
        elif not self.resolver.claim(sha, path):
            self.emit(self.resolver.copy(path, sha))
        else:
            self.batch.append((path, sha, data))
            if len(self.batch) >= self.batch_size:
                self._submit()

    def close(self) -> None:
        if self.batch:
            self._submit()
        while self.in_flight:
            self._collect()

    def _submit(self) -> None:
        items, self.batch = self.batch, []
        future = self.submit([data for _, _, data in items])
        self.in_flight.append((future, [(path, sha) for path, sha, _ in items]))
        while len(self.in_flight) > self.max_in_flight or (self.in_flight and self.in_flight[0][0].done()):
            self._collect()

    def _collect(self) -> None:
        future, keys = self.in_flight.popleft()
        rows: list[Row] = []
        for (path, sha), outcome in zip(keys, future.result(), strict=True):
            rows.extend(self.resolver.resolve(path, sha, outcome))
        self.emit(rows)
