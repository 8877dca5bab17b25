"""The shadow lane: scoring off the request path, on one low-priority thread with a CPU budget.

A request hands the lane a job and returns at once (a bounded queue: a full queue drops the job, it never
waits). The lane's thread runs at ``nice 19`` (Linux applies it to the thread alone), so the scheduler
gives the champion's decode and model threads the cores first, and it spends at most ``cpu_share`` of one
core: a token bucket in CPU seconds (``time.thread_time``) refilled at that rate; while it is empty, sampled
images are skipped and counted, not queued. The models it runs use one ONNX Runtime thread, which is the
calling thread itself, so the niceness covers the model too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger("deeptrust.rollout")
Job = Callable[[], None]
_STOP = object()


class CpuBudget:
    """CPU seconds the lane may spend: refilled at ``share`` per wall second, up to ``burst_s``."""

    def __init__(self, share: float, *, burst_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.share, self.capacity = share, max(burst_s * share, 0.05)
        self.tokens, self._clock = self.capacity, clock
        self._at = clock()
        self._lock = threading.Lock()

    def available(self) -> bool:
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.share)
            self._at = now
            return self.tokens > 0

    def spend(self, cpu_s: float) -> None:
        with self._lock:
            self.tokens -= cpu_s


class ShadowLane:
    def __init__(self, *, cpu_share: float, max_queue: int, on_skip: Callable[[str], None], name: str):
        self.budget = CpuBudget(cpu_share)
        self.on_skip = on_skip
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name=f"shadow-{name}", daemon=True)
        self._thread.start()
        self.done = 0  # jobs run (tests and the benchmark read it)

    def offer(self, job: Job) -> bool:
        """Queue ``job`` unless the budget is spent or the queue full; never blocks."""
        if not self.budget.available():
            self.on_skip("cpu_budget")
            return False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.on_skip("queue_full")
            return False
        return True

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # not Linux, or not allowed: the CPU budget still bounds it
            log.warning("could not lower the shadow thread's priority")
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if not self.budget.available():  # spent while this job waited
                self.on_skip("cpu_budget")
                continue
            before = time.thread_time()
            try:
                job()  # type: ignore[operator]
            except Exception:  # the job counts its own errors; the lane must go on
                log.exception("shadow job failed")
            finally:
                self.budget.spend(time.thread_time() - before)
                self.done += 1

    def close(self, timeout: float = 5.0) -> None:
        """Drop what waits and stop the thread after the job it runs."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
