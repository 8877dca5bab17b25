"""The known-image reader: an image's PDQ hash, and the nearest listed hash within the match distance.

One matcher per process holds the lists in memory (``HashIndex``) and looks up every image checked or
scanned. It notices changes with one cheap query (``HashStore.version``) at most every ``refresh_s``
seconds and rebuilds its index in a background thread, so requests never wait for a reload; a moderator's
confirmation in this process refreshes at once (``refresh(wait=True)``), other replicas within
``refresh_s``. Hashes of low quality (flat images, PDQ quality < 50) are reported but never matched:
unrelated flat images collide.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deeptrust.evidence.pdq import MIN_QUALITY, PdqHash, hash_image, to_evidence
from deeptrust.evidence.types import Evidence
from deeptrust.hashes.index import HashIndex
from deeptrust.hashes.models import REVIEW_LIST
from deeptrust.hashes.store import HashStore, Snapshot

log = logging.getLogger("deeptrust.hashes")
# Chosen by benchmarks/pdq_reliability.py (docs/evidence-reliability.md): resizing, JPEG and crops up to
# 5 % stay within it for ≥ 95 % of images, and unrelated pairs of good quality fall within it at ~10⁻⁶.
DEFAULT_MAX_DISTANCE = 31


@dataclass(frozen=True)
class Listed:
    hash: str
    label: str  # ai or real
    list_name: str
    note: str | None
    distance: int


class HashMatcher:
    def __init__(
        self, store: HashStore | None, *, max_distance: int = DEFAULT_MAX_DISTANCE, refresh_s: float = 10.0
    ) -> None:
        self.store = store
        self.max_distance = max_distance
        self.refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._index = HashIndex(np.empty((0, 4), dtype=np.uint64))
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._loading = False

    @property
    def size(self) -> int:
        return len(self._index)

    def refresh(self, *, wait: bool = False) -> None:
        """Reload the lists if they changed: in the background, or now with ``wait``."""
        if self.store is None:
            return
        with self._lock:
            if self._loading and not wait:
                return
            self._loading = True
            self._checked_at = time.monotonic()
        if wait:
            self._reload()
        else:
            threading.Thread(target=self._reload, name="hash-lists-reload", daemon=True).start()

    def _reload(self) -> None:
        assert self.store is not None
        try:
            current = self._snapshot.version if self._snapshot is not None else None
            if current is not None and self.store.version() == current:
                return
            snapshot = self.store.snapshot()
            index = HashIndex(snapshot.words)
            self._snapshot, self._index = snapshot, index  # readers see the old pair or the new one
            log.info("hash lists loaded: %d hashes", len(index))
        except Exception:  # a database outage must not break predictions; the next check retries
            log.exception("could not load the hash lists")
        finally:
            with self._lock:
                self._loading = False

    def _maybe_refresh(self) -> None:
        if self.store is not None and time.monotonic() - self._checked_at >= self.refresh_s:
            self.refresh()

    def lookup(self, pdq: PdqHash) -> Listed | None:
        """The nearest listed hash within ``max_distance`` bits, or None (also for low-quality hashes)."""
        self._maybe_refresh()
        snapshot, index = self._snapshot, self._index
        if snapshot is None or pdq.quality < MIN_QUALITY:
            return None
        hit = index.nearest(pdq.words(), self.max_distance)
        if hit is None:
            return None
        i = hit.row
        return Listed(
            snapshot.hashes[i], snapshot.labels[i], snapshot.lists[i], snapshot.notes[i], hit.distance
        )

    def read(self, image: Image.Image | np.ndarray) -> list[Evidence]:
        """A ``pdq`` entry with the image's hash, and a ``hash_match`` entry when it is listed."""
        pdq = hash_image(image)
        entries = [to_evidence(pdq)]
        listed = self.lookup(pdq)
        if listed is not None:
            entries.append(to_match_evidence(listed))
        return entries


def to_match_evidence(listed: Listed) -> Evidence:
    """Moderators' own decisions (the ``review`` list) are conclusive; imported lists are as good as whoever
    made them, so strong (fusion: both override the pixel model; see docs/evidence-reliability.md)."""
    what = "AI-generated" if listed.label == "ai" else "a real photo"
    note = f": {listed.note}" if listed.note else ""
    return Evidence(
        kind="hash_match",
        signal="ai" if listed.label == "ai" else "real",
        strength="conclusive" if listed.list_name == REVIEW_LIST else "strong",
        detail=f"matches an image listed as {what} in '{listed.list_name}' "
        f"({listed.distance} of 256 bits apart){note}",
        data={
            "hash": listed.hash,
            "distance": listed.distance,
            "list": listed.list_name,
            "label": listed.label,
            "note": listed.note,
        },
    )
