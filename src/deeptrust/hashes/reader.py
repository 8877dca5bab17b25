"""The ``hash_match`` evidence reader (registered in ``deeptrust.evidence.collect.READERS``).

Every checked or scanned image gets a ``pdq`` entry with its hash (signal ``none``: answers and scan rows
show it) and, when it is within ``DEEPTRUST_HASH_MAX_DISTANCE`` bits of a listed hash, a ``hash_match``
entry. One matcher per process and database (lists loaded at start by ``warm_up``, refreshed every
``DEEPTRUST_HASH_REFRESH_S`` seconds and at once after a moderator's decision in this process).
``DEEPTRUST_HASH_LISTS=false`` turns both off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from deeptrust.evidence._pixels import pixels_of
from deeptrust.evidence.types import Evidence
from deeptrust.hashes.matcher import HashMatcher

log = logging.getLogger("deeptrust.hashes")

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

_matchers: dict[tuple[str, int, float], HashMatcher] = {}
_failed_at: dict[tuple[str, int, float], float] = {}
_lock = threading.Lock()
RETRY_S = 60.0  # after the database could not be reached, images are hashed but not matched this long


def matcher_for(settings: Settings, *, strict: bool = False) -> HashMatcher:
    """The process's matcher for these settings' database (created, and its lists loaded, on first use).

    When the database cannot be reached, a matcher without lists is returned (images still get their
    hash) and the connection is retried after ``RETRY_S``, so a scan does not wait on every image;
    ``strict`` raises instead (the service's start)."""
    key = (settings.resolved_database_url, settings.hash_max_distance, settings.hash_refresh_s)
    with _lock:
        matcher = _matchers.get(key)
        if matcher is not None:
            return matcher
        if not strict and time.monotonic() - _failed_at.get(key, float("-inf")) < RETRY_S:
            return HashMatcher(None, max_distance=settings.hash_max_distance)
        try:
            matcher = _open(settings)
        except Exception:
            if strict:
                raise
            _failed_at[key] = time.monotonic()
            log.exception("the hash lists' database is unreachable; matching is off for %.0f s", RETRY_S)
            return HashMatcher(None, max_distance=settings.hash_max_distance)
        _matchers[key] = matcher
        return matcher


def _open(settings: Settings) -> HashMatcher:
    from deeptrust.hashes.store import HashStore

    store = HashStore(settings.resolved_database_url)
    store.create_schema()
    matcher = HashMatcher(store, max_distance=settings.hash_max_distance, refresh_s=settings.hash_refresh_s)
    matcher.refresh(wait=True)
    return matcher


def warm_up(settings: Settings) -> None:
    """Load the lists before the first image (called by ``collect.warm_up`` at the service's start); an
    unreachable database stops the start, as it does for the feedback store."""
    if settings.hash_lists:
        matcher_for(settings, strict=True)


def read_hashes(source: Source, settings: Settings) -> list[Evidence]:
    if not settings.hash_lists:
        return []
    return matcher_for(settings).read(pixels_of(source, settings))
