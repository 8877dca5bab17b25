"""Drift monitoring: does live traffic still look like the data the model was validated on?

``profile``: the card's reference profile (score distribution, image properties, an embedding summary)
built from validation data. ``stats``: two-sample statistics with permutation-calibrated thresholds.
``windows``: rolling windows per model version in the service, tested off the request path and exported
as Prometheus gauges. ``report`` and ``cli``: ``deeptrust monitor profile|drift``.

For other parts of the service (the canary's automatic abort): :func:`drift_state` answers, for a model
version the service has seen, whether any signal currently drifts.
"""

from deeptrust.monitor.windows import DriftMonitor, DriftState, drift_state

__all__ = ["DriftMonitor", "DriftState", "drift_state"]
