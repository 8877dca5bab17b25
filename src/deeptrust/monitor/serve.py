"""Wiring drift monitoring into a running service: ``install(service)`` (called by ``create_app``)."""

from __future__ import annotations

from typing import Any

from deeptrust.monitor.windows import DriftMonitor

EXTRA_KEY = "drift"


def install(service: Any) -> DriftMonitor | None:
    """Attach a ``DriftMonitor`` to ``service`` (once): it observes every scored upload, its gauges live
    in the service's registry, its thread stops with the service. ``DEEPTRUST_DRIFT_ENABLED=false``
    turns it off."""
    if EXTRA_KEY in service.extras:
        return service.extras[EXTRA_KEY]
    if not service.settings.drift_enabled:
        return None
    monitor = DriftMonitor.from_settings(service.settings, service.metrics.registry)
    service.extras[EXTRA_KEY] = monitor
    service.observers.append(monitor.observe_decoded)
    service.on_stop.append(monitor.stop)
    monitor.window_for(service.holder.current.card)  # says at once when the card has no profile
    monitor.activate()
    return monitor


def monitor_of(service: Any) -> DriftMonitor | None:
    return service.extras.get(EXTRA_KEY)
