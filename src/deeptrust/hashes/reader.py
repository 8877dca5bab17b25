"""The ``hash_match`` evidence reader (registered in ``deeptrust.evidence.collect.READERS``).

Every checked or scanned image gets a ``pdq`` entry with its hash (signal ``none``: answers and scan rows
show it) and, when it is within ``DEEPTRUST_HASH_MAX_DISTANCE`` bits of a listed hash, a ``hash_match``
entry. One matcher per process and database (lists loaded at start by ``warm_up``, refreshed every
``DEEPTRUST_HASH_REFRESH_S`` seconds and at once after a moderator's decision in this process).
``DEEPTRUST_HASH_LISTS=false`` turns both off.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from deeptrust.evidence._pixels import pixels_of
from deeptrust.evidence.types import Evidence
from deeptrust.hashes.matcher import HashMatcher

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

_matchers: dict[tuple[str, int, float], HashMatcher] = {}
_lock = threading.Lock()


def matcher_for(settings: Settings) -> HashMatcher:
    """The process's matcher for these settings' database (created, and its lists loaded, on first use)."""
    key = (settings.resolved_database_url, settings.hash_max_distance, settings.hash_refresh_s)
    with _lock:
        matcher = _matchers.get(key)
        if matcher is None:
            from deeptrust.hashes.store import HashStore

            store = HashStore(settings.resolved_database_url)
            store.create_schema()
            matcher = HashMatcher(
                store, max_distance=settings.hash_max_distance, refresh_s=settings.hash_refresh_s
            )
            matcher.refresh(wait=True)
            _matchers[key] = matcher
    return matcher


def warm_up(settings: Settings) -> None:
    """Load the lists before the first image (called by ``collect.warm_up`` at the service's start)."""
    if settings.hash_lists:
        matcher_for(settings)


def read_hashes(source: Source, settings: Settings) -> list[Evidence]:
    if not settings.hash_lists:
        return []
    return matcher_for(settings).read(pixels_of(source, settings))
