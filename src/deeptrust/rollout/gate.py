"""The champion's busy signal, shared with the shadow lane's process: how many images the server has in
flight, in 8 bytes of shared memory (a ``memfd`` the lane inherits), so that the lane starts an image only
while the champion has none (``DEEPTRUST_ROLLOUT_SHADOW_YIELD``).

Why: ``SCHED_IDLE`` gives the lane only cores nothing else wants, but the champion's model call runs on
both cores (two ONNX Runtime threads, a barrier per operator): a champion thread that has to preempt the
lane, and then finds the lane's data in its core's caches, makes every operator wait. Measured with
``benchmarks/rollout.py`` at 100 RPS (2-core VM, README): the champion's p50 rose 15 → 21 ms beside a
lane that did not yield. Yielding costs the lane the images it has no idle gap for (skipped, counted).

One writer (the server's event loop sets the count, under the GIL) and one reader (the lane); an aligned
8-byte store is read whole. Linux only (``os.memfd_create``); elsewhere the lane does not yield.
"""

from __future__ import annotations

import mmap
import os
import time

SIZE = 8


class BusySignal:
    """The server's end: ``set(n)`` publishes the images in flight; ``fd`` is handed to the lane."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("deeptrust-busy")
        os.ftruncate(self.fd, SIZE)
        self._map = mmap.mmap(self.fd, SIZE)
        self._count = memoryview(self._map).cast("q")

    def set(self, n: int) -> None:
        self._count[0] = n

    def close(self) -> None:
        self._count.release()
        self._map.close()
        os.close(self.fd)

    @staticmethod
    def available() -> bool:
        return hasattr(os, "memfd_create")


class BusyReader:
    """The lane's end: ``wait_idle()`` returns once the server has no image in flight → seconds waited."""

    def __init__(self, fd: int, poll_s: float = 0.001) -> None:
        self._map = mmap.mmap(fd, SIZE, prot=mmap.PROT_READ)
        self._count = memoryview(self._map).cast("q")
        self.poll_s = poll_s

    def busy(self) -> int:
        return int(self._count[0])

    def wait_idle(self) -> float:
        started = time.perf_counter()
        while self._count[0] > 0:
            time.sleep(self.poll_s)  # a sleeping SCHED_IDLE task wakes onto an idle core only
        return time.perf_counter() - started
