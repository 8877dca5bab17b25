"""Whether the model being served came from the registry, and whether the registry answers now.

``/readyz`` and the ``deeptrust_registry_reachable`` gauge read this. A registry probe is at most one
``/health`` request per ``PROBE_TTL_S`` (readiness is polled often; the registry must not feel it).
"""

from __future__ import annotations

from typing import Any

from deeptrust.registry.resolve import Resolution
from deeptrust.registry.store import Store
from deeptrust.settings import Settings

PROBE_TTL_S = 15.0


def registry_reachable(settings: Settings) -> bool:
    """A tracking server's ``/health`` (a probe younger than ``PROBE_TTL_S`` is reused, including the
    one a failed model load made); an embedded store is always there."""
    store = Store(settings)
    return True if not store.remote else store.reachable(max_age_s=PROBE_TTL_S)


def registry_status(resolution: Resolution, settings: Settings) -> dict[str, Any]:
    """For ``/readyz``: where the model came from and, for registry models, whether it answers now."""
    status: dict[str, Any] = {"source": resolution.source, "reference": resolution.reference}
    if resolution.source in ("registry", "cache"):
        status |= {"version": resolution.version, "reachable": registry_reachable(settings)}
        status["serving_from_cache"] = resolution.source == "cache"
    return status
