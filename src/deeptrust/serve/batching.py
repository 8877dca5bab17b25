"""A generic micro-batcher: concurrent callers submit one item each; a worker runs them as one batch.

Configured only by ``max_batch_size`` and ``max_wait_ms`` (how long the first item of a batch waits for
company), plus ``max_queue`` so that overload sheds work (``QueueFullError``) instead of growing latency
without bound. The batch function runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QueueFullError(RuntimeError):
    """The batcher's queue is at ``max_queue``; the caller should retry later (HTTP 503)."""


class BatcherClosedError(RuntimeError):
    """The batcher is stopping and takes no new work."""


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class BatchStats:
    size: int
    seconds: float  # time spent in the batch function
    waits: tuple[float, ...]  # per item: seconds between submit and the batch starting


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        predict_batch: Callable[[list[T]], Sequence[R]],
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 2.0,
        max_queue: int = 128,
        workers: int = 1,
        on_batch: Callable[[BatchStats], None] | None = None,
    ):
        if max_batch_size < 1 or max_queue < 1 or workers < 1:
            raise ValueError("max_batch_size, max_queue and workers must be at least 1")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.workers = workers
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending[T, R]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._busy = 0

    @property
    def depth(self) -> int:
        """Items waiting for a batch (not counting those being predicted)."""
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._closed = False
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="batcher")
        self._tasks = [asyncio.create_task(self._work(), name=f"batcher-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        """Refuse new items, finish everything already queued, then stop the workers."""
        self._closed = True
        if self._queue is not None:
            while self._queue.qsize() or self._busy:
                await asyncio.sleep(0.005)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, item: T) -> R:
        if self._queue is None or self._closed:
            raise BatcherClosedError("the batcher is not running")
        if self._queue.qsize() >= self.max_queue:
            raise QueueFullError(f"{self._queue.qsize()} items already waiting (max_queue={self.max_queue})")
        pending: _Pending[T, R] = _Pending(item, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    async def _collect(self) -> list[_Pending[T, R]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            self._busy += 1
            try:
                live = [p for p in batch if not p.future.done()]  # callers that went away are skipped
                if live:
                    await self._run(loop, live)
            finally:
                self._busy -= 1

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[T, R]]) -> None:
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.predict_batch, [p.item for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for p, result in zip(batch, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)
        if self.on_batch is not None:
            waits = tuple(started - p.enqueued for p in batch)
            self.on_batch(BatchStats(len(batch), time.perf_counter() - started, waits))
