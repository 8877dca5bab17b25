"""Rolling windows of timestamped values: what the abort policy and the ratio gauges look at.

A window keeps the last ``horizon_s`` seconds of values (bounded by ``max_items`` too, so a burst cannot
grow it without limit). Writers are request handlers and the shadow thread, so every access takes a lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

Clock = Callable[[], float]


class Window:
    def __init__(self, horizon_s: float, *, max_items: int = 100_000, clock: Clock = time.monotonic):
        self.horizon_s = horizon_s
        self._items: deque[tuple[float, float]] = deque(maxlen=max_items)
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, value: float) -> None:
        now = self._clock()
        with self._lock:
            self._items.append((now, float(value)))
            self._prune(now)

    def values(self) -> np.ndarray:
        now = self._clock()
        with self._lock:
            self._prune(now)
            return np.fromiter((v for _, v in self._items), dtype=np.float64, count=len(self._items))

    def _prune(self, now: float) -> None:
        cutoff = now - self.horizon_s
        while self._items and self._items[0][0] < cutoff:
            self._items.popleft()

    def count(self) -> int:
        return len(self.values())

    def mean(self) -> float | None:
        values = self.values()
        return float(values.mean()) if len(values) else None

    def percentile(self, q: float) -> float | None:
        values = self.values()
        return float(np.percentile(values, q)) if len(values) else None


class VersionWindows:
    """One set of windows per model version seen: ``windows[(name, version)].latency`` etc."""

    def __init__(self, horizon_s: float, *, clock: Clock = time.monotonic):
        self.horizon_s = horizon_s
        self._clock = clock
        self._by: dict[tuple[str, str, str], Window] = {}
        self._lock = threading.Lock()

    def get(self, model: dict[str, str], kind: str) -> Window:
        key = (model["name"], model["version"], kind)
        with self._lock:
            window = self._by.get(key)
            if window is None:
                window = self._by[key] = Window(self.horizon_s, clock=self._clock)
            return window

    def keys(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._by)
