"""Traffic simulation: replay real images against a running service at a scheduled, open-loop rate,
switch sources mid-run (drift), send feedback with the true labels, and summarise what happened.

``deeptrust simulate`` is the command; ``load_samples``, ``send_times`` and ``run_plan`` are its steps.
"""

from deeptrust.simulate.errors import SimulateError
from deeptrust.simulate.run import Plan, run_plan
from deeptrust.simulate.schedule import Pattern, send_times
from deeptrust.simulate.sources import load_samples

__all__ = ["Pattern", "Plan", "SimulateError", "load_samples", "run_plan", "send_times"]
