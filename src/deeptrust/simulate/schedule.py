"""When each request is due: an open-loop schedule from a traffic pattern, fixed before the run starts.

The rate is a function of time; request ``i`` is due when the expected number of arrivals reaches ``i``
(the inverse of the cumulative rate), so a slow server never delays the schedule. Patterns:

- ``constant``: ``rate`` requests/s.
- ``diurnal``: one day compressed into ``period`` seconds (default: the whole run), between 0.5x and
  1.5x ``rate``: quiet at the start and the end, busiest half-way.
- ``spike``: ``rate``, with ``spike_factor`` times as much from 40 % to 50 % of the run.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from deeptrust.simulate.errors import SimulateError

STEP_S = 0.001  # resolution of the numeric inverse
DIURNAL_AMPLITUDE = 0.5
SPIKE_WINDOW = (0.4, 0.5)


class Pattern(StrEnum):
    constant = "constant"
    diurnal = "diurnal"
    spike = "spike"


def rate_at(
    t: np.ndarray, pattern: Pattern, rate: float, duration: float, *, period: float | None = None,
    spike_factor: float = 5.0,
) -> np.ndarray:  # fmt: skip
    """Offered requests per second at offsets ``t`` (seconds from the start)."""
    if pattern is Pattern.constant:
        return np.full_like(t, rate, dtype=float)
    if pattern is Pattern.diurnal:
        day = period or duration
        return rate * (1 - DIURNAL_AMPLITUDE * np.cos(2 * np.pi * t / day))
    start, end = (f * duration for f in SPIKE_WINDOW)
    return np.where((t >= start) & (t < end), rate * spike_factor, rate)


def send_times(
    pattern: Pattern, rate: float, duration: float, *, period: float | None = None, spike_factor: float = 5.0
) -> np.ndarray:
    """Offsets (seconds) at which requests are due, in order, all below ``duration``."""
    if rate <= 0 or duration <= 0:
        raise SimulateError(f"--rate and --duration must be positive, got {rate} and {duration}")
    if period is not None and period <= 0:
        raise SimulateError(f"--period must be positive, got {period}")
    if pattern is Pattern.constant:
        return np.arange(int(rate * duration)) / rate
    grid = np.arange(0.0, duration + STEP_S, STEP_S)
    rates = rate_at(grid, pattern, rate, duration, period=period, spike_factor=spike_factor)
    expected = np.concatenate(([0.0], np.cumsum((rates[1:] + rates[:-1]) / 2 * STEP_S)))
    due = np.interp(np.arange(int(expected[-1])), expected, grid)
    return due[due < duration]


def parse_seconds(text: str, option: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h`` → seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    try:
        seconds = float(value[:-1] if scale else value) * (scale or 1)
    except ValueError:
        raise SimulateError(
            f"{option} must be seconds or a number with s, m or h (15m), got {text!r}"
        ) from None
    if seconds < 0:
        raise SimulateError(f"{option} must not be negative, got {text!r}")
    return seconds
