"""The open-loop schedule: how many requests each pattern sends, and when."""

import numpy as np
import pytest

from deeptrust.simulate import Pattern, SimulateError, send_times
from deeptrust.simulate.schedule import parse_seconds


def test_constant_is_evenly_spaced():
    times = send_times(Pattern.constant, 10, 3)
    assert len(times) == 30 and times[0] == 0
    assert np.allclose(np.diff(times), 0.1)


def test_diurnal_keeps_the_mean_rate_and_peaks_half_way():
    times = send_times(Pattern.diurnal, 20, 60)
    assert abs(len(times) - 20 * 60) <= 1
    per_second = np.histogram(times, bins=60, range=(0, 60))[0]
    assert per_second[:5].mean() < 12 and per_second[28:33].mean() > 28  # 0.5x at the start, 1.5x half-way


def test_diurnal_period_repeats_the_day():
    times = send_times(Pattern.diurnal, 20, 60, period=30)
    per_second = np.histogram(times, bins=60, range=(0, 60))[0]
    assert per_second[13:17].mean() > 28 and per_second[43:47].mean() > 28 and per_second[29:31].mean() < 12


def test_spike_sends_five_times_the_rate_from_40_to_50_percent():
    times = send_times(Pattern.spike, 10, 100)
    inside = ((times >= 40) & (times < 50)).sum()
    assert inside == pytest.approx(500, abs=2)
    assert len(times) == pytest.approx(90 * 10 + 500, abs=2)


@pytest.mark.parametrize(("rate", "duration"), [(0, 10), (-1, 10), (5, 0)])
def test_rate_and_duration_must_be_positive(rate, duration):
    with pytest.raises(SimulateError, match="must be positive"):
        send_times(Pattern.constant, rate, duration)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90), ("2h", 7200)])
def test_parse_seconds(text, seconds):
    assert parse_seconds(text, "--duration") == seconds


@pytest.mark.parametrize("text", ["ten", "5d", "-3s", ""])
def test_parse_seconds_refuses_nonsense(text):
    with pytest.raises(SimulateError, match="--duration"):
        parse_seconds(text, "--duration")
