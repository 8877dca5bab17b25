"""The rollout shared by the worker processes of one server (``deeptrust serve --workers N``).

Like ``model.json`` (serve/workers.py), ``rollout.json`` in the runtime directory holds the last rollout
event and a generation number, written atomically under a lock. The worker that took a start, a promotion
or an abort (its own or automatic) publishes it; the others poll the file and do the same locally, so
every worker routes the canary's share, and a canary that one worker aborts stops in all of them. Each
worker judges the traffic it serves itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Event:
    generation: int
    action: str  # start | end
    reference: str = ""
    mode: str = ""
    share: float = 0.0
    thresholds: dict[str, Any] | None = None
    outcome: str = ""  # end: promoted | aborted
    reason: str = ""
    detail: str = ""


class SharedRollout:
    def __init__(self, runtime_dir: Path):
        self.path = Path(runtime_dir) / "rollout.json"
        self._lock = Path(runtime_dir) / "rollout.lock"

    def read(self) -> Event | None:
        try:
            return Event(**json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def publish(self, **event: Any) -> Event:
        with self._lock.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.read()
            published = Event(generation=(previous.generation if previous else 0) + 1, **event)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(asdict(published)))
            tmp.replace(self.path)
        return published

    def mtime_ns(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0
