"""The known-image reader: an image's PDQ hash, and the nearest listed hash within the match distance.

One matcher per process holds the lists in memory (``HashIndex``) and looks up every image checked or
scanned. It notices changes with one cheap query (``HashStore.version``) every ``refresh_s`` seconds (or
every 5 reload durations, whichever is longer: a million hashes take seconds to load) and rebuilds its
index in a background thread, so requests never wait for a reload. A moderator's decision in this process
is matched at once (``add_local``: searched beside the index until a reload includes it), other replicas
pick it up at their next reload. Hashes of low quality (flat images, PDQ quality < 50) are reported but
never matched: unrelated flat images collide.

Entries added from an image carry the hashes of a few crops of it (``deeptrust.hashes.variants``); they are
in the index beside the entries, and a match through one reports the entry (its hash, list, label, note)
and the crop (``Listed.crop``). On equal distance the entry's own hash wins over a variant.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deeptrust.evidence.pdq import MIN_QUALITY, PdqHash, hash_image, hex_to_words, to_evidence
from deeptrust.evidence.types import Evidence
from deeptrust.hashes.index import HashIndex
from deeptrust.hashes.models import REVIEW_LIST
from deeptrust.hashes.store import HashStore, Snapshot
from deeptrust.hashes.variants import variant_name

log = logging.getLogger("deeptrust.hashes")
# Chosen by benchmarks/pdq_reliability.py (docs/evidence-reliability.md): resizing and JPEG stay within it
# for ≥ 95 % of images (crops through the crop variants), and unrelated pairs fall within it at ~10⁻⁷.
DEFAULT_MAX_DISTANCE = 31


@dataclass(frozen=True)
class Listed:
    hash: str
    label: str  # ai or real
    list_name: str
    note: str | None
    distance: int
    crop: str | None = None  # the crop variant it matched through ("5 % off the top-left"), or None


@dataclass(frozen=True)
class _Recent:
    """An entry added in this process since the snapshot: its hash, then its variants' (codes: 0 first)."""

    added_at: float
    entry: Listed
    words: np.ndarray  # (1 + K, 4) uint64
    codes: list[int]


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
        self._reload_s = 0.0  # how long the last full reload took
        # Entries this process added since its snapshot (a moderator's decision): searched by a scan
        # beside the index until a reload includes them, so a decision never waits for a reload.
        self._recent: list[_Recent] = []

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

    def add_local(
        self,
        pdq: str,
        label: str,
        *,
        list_name: str,
        note: str | None = None,
        variants: list[tuple[int, PdqHash]] | None = None,
    ) -> None:
        """Make an entry just written to the store visible in this process at once (no reload)."""
        variants = variants or []
        words = np.stack([hex_to_words(pdq), *(v.words() for _, v in variants)])
        recent = _Recent(
            time.time(), Listed(pdq, label, list_name, note, 0), words, [0] + [c for c, _ in variants]
        )
        with self._lock:
            self._recent.append(recent)

    def _reload(self) -> None:
        assert self.store is not None
        try:
            current = self._snapshot.version if self._snapshot is not None else None
            if current is not None and self.store.version() == current:
                return
            started, wall = time.monotonic(), time.time()
            snapshot = self.store.snapshot()
            index = HashIndex(snapshot.words)
            with self._lock:  # readers see the old pair or the new one
                self._snapshot, self._index = snapshot, index
                self._recent = [r for r in self._recent if r.added_at >= wall]  # older ones are in it
            self._reload_s = time.monotonic() - started
            log.info("hash lists loaded: %d hashes in %.1f s", len(index), self._reload_s)
        except Exception:  # a database outage must not break predictions; the next check retries
            log.exception("could not load the hash lists")
        finally:
            with self._lock:
                self._loading = False

    def _maybe_refresh(self) -> None:
        # a reload of a million hashes takes seconds of CPU: never spend more than ~1/5 of the time on it
        interval = max(self.refresh_s, 5 * self._reload_s)
        if self.store is not None and time.monotonic() - self._checked_at >= interval:
            self.refresh()

    def lookup(self, pdq: PdqHash) -> Listed | None:
        """The nearest listed hash within ``max_distance`` bits, or None (also for low-quality hashes)."""
        self._maybe_refresh()
        snapshot, index = self._snapshot, self._index
        if snapshot is None or pdq.quality < MIN_QUALITY:
            return None
        query = pdq.words()
        hit = index.nearest(query, self.max_distance)
        best = None
        if hit is not None:
            i, code = int(snapshot.entry[hit.row]), int(snapshot.variant[hit.row])
            best = Listed(
                snapshot.hashes[i],
                snapshot.labels[i],
                snapshot.lists[i],
                snapshot.notes[i],
                hit.distance,
                variant_name(code) if code else None,
            )
        for recent in reversed(self._recent):  # newest first: a later decision wins a tie
            dist = np.bitwise_count(recent.words ^ query).sum(axis=1)
            k = int(dist.argmin())  # the entry's own hash (row 0) wins a tie with its variants
            d, entry = int(dist[k]), recent.entry
            if d <= self.max_distance and (best is None or d < best.distance or entry.hash == best.hash):
                crop = variant_name(recent.codes[k]) if recent.codes[k] else None
                best = Listed(entry.hash, entry.label, entry.list_name, entry.note, d, crop)
        return best

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
    via = f", through its crop {listed.crop}" if listed.crop else ""
    return Evidence(
        kind="hash_match",
        signal="ai" if listed.label == "ai" else "real",
        strength="conclusive" if listed.list_name == REVIEW_LIST else "strong",
        detail=f"matches an image listed as {what} in '{listed.list_name}' "
        f"({listed.distance} of 256 bits apart{via}){note}",
        data={
            "hash": listed.hash,
            "distance": listed.distance,
            "list": listed.list_name,
            "label": listed.label,
            "note": listed.note,
            "crop": listed.crop,
        },
    )
