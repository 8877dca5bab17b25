"""Whether the model being served came from the registry, and whether the registry answers now.

``/readyz`` and the ``deeptrust_registry_reachable`` gauge read this. A registry probe is at most one
``/health`` request per ``PROBE_TTL_S`` (readiness is polled often; the registry must not feel it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from deeptrust.registry.resolve import Resolution
from deeptrust.registry.store import Store
from deeptrust.settings import Settings

PROBE_TTL_S = 15.0
_probes: dict[str, tuple[float, bool]] = {}
_lock = threading.Lock()


def registry_reachable(settings: Settings) -> bool:
    """A tracking server's ``/health`` (cached for ``PROBE_TTL_S``); an embedded store is always there."""
    store = Store(settings)
    if not store.remote:
        return True
    now = time.monotonic()
    with _lock:
        hit = _probes.get(store.uri)
    if hit is not None and now - hit[0] < PROBE_TTL_S:
        return hit[1]
    ok = store.reachable()
    with _lock:
        _probes[store.uri] = (now, ok)
    return ok


def registry_status(resolution: Resolution, settings: Settings) -> dict[str, Any]:
    """For ``/readyz``: where the model came from and, for registry models, whether it answers now."""
    status: dict[str, Any] = {"source": resolution.source, "reference": resolution.reference}
    if resolution.source in ("registry", "cache"):
        status |= {"version": resolution.version, "reachable": registry_reachable(settings)}
        status["serving_from_cache"] = resolution.source == "cache"
    return status
