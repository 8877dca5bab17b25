"""The service's background work on the feedback store: a bounded writer and the retention loop.

``BoundedWriter`` runs jobs one at a time on its own thread, off the request path; at most
``max_items`` jobs and ``max_bytes`` of their payload wait, and a job that does not fit is dropped
(and reported through ``on_drop``) instead of letting memory grow with the traffic.
``RetentionLoop`` purges the store every ``interval_s`` seconds, first right after it starts, so
retention holds without anyone running ``deeptrust feedback purge``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from deeptrust.feedback.store import FeedbackStore, PurgeResult

log = logging.getLogger("deeptrust.feedback")


class BoundedWriter:
    def __init__(
        self,
        *,
        max_items: int,
        max_bytes: int,
        on_drop: Callable[[str], None] = lambda reason: None,
        name: str = "feedback-writer",
    ) -> None:
        self.max_items, self.max_bytes, self.name = max_items, max_bytes, name
        self.on_drop = on_drop
        self._jobs: deque[tuple[Callable[[], None], int]] = deque()
        self._bytes = 0
        self._busy = False
        self._closing = False
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def depth(self) -> int:
        with self._ready:
            return len(self._jobs)

    def offer(self, job: Callable[[], None], size: int) -> bool:
        """Queue ``job`` (holding ``size`` bytes) unless a bound is reached; never blocks."""
        with self._ready:
            if len(self._jobs) >= self.max_items or self._bytes + size > self.max_bytes:
                accepted = False
            else:
                self._jobs.append((job, size))
                self._bytes += size
                accepted = True
                if self._thread is None or not self._thread.is_alive():  # first job, or after close()
                    self._closing = False
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
                self._ready.notify()
        if not accepted:
            self.on_drop("queue_full")
        return accepted

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job has run; False on timeout (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Run what is queued, then stop the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closing:
                    self._ready.wait()
                if not self._jobs:
                    return
                job, size = self._jobs.popleft()
                self._busy = True
            try:
                job()
            except Exception:  # a job reports its own failures; this keeps the thread alive regardless
                log.exception("a background feedback job failed")
            finally:
                with self._ready:
                    self._bytes -= size
                    self._busy = False
                    self._ready.notify_all()


class RetentionLoop:
    def __init__(
        self,
        store: FeedbackStore,
        *,
        days: int,
        interval_s: float,
        on_purge: Callable[[PurgeResult], Any] | None = None,
    ) -> None:
        self.store, self.days, self.interval_s = store, days, interval_s
        self.on_purge = on_purge
        self.runs = 0  # purges finished (tests and logs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="feedback-retention", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> PurgeResult | None:
        try:
            result = self.store.purge(self.days)
        except Exception:  # the database may be briefly unreachable; the next round tries again
            log.exception("the periodic feedback purge failed")
            return None
        self.runs += 1
        if result.items or result.images:
            log.info("feedback purged", extra={"items": result.items, "images": result.images})
        if self.on_purge is not None:
            self.on_purge(result)
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval_s):
                return
