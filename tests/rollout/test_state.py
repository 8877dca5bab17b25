"""Bad rollout requests are refused with errors that say what was wrong."""

from __future__ import annotations

import math

import pytest

from deeptrust.rollout import InvalidRolloutError, Thresholds
from deeptrust.rollout.state import Mode, check_mode, check_share


@pytest.mark.parametrize("share", [-0.01, 1.01, 2, math.nan, math.inf, True, "0.5"])
def test_a_share_outside_0_1_is_refused(share):
    with pytest.raises(InvalidRolloutError, match="share must be between 0 and 1"):
        check_share(share)


@pytest.mark.parametrize("share", [0, 0.0, 0.25, 1])
def test_shares_in_0_1_pass(share):
    assert check_share(share) == float(share)


def test_modes():
    assert check_mode("canary") is Mode.CANARY
    with pytest.raises(InvalidRolloutError, match="mode must be 'shadow' or 'canary', got 'blue-green'"):
        check_mode("blue-green")


@pytest.mark.parametrize(
    "bad", [{"window_s": 0}, {"min_requests": 0}, {"max_error_rate": 1.5}, {"max_disagreement": -1},
            {"max_p95_ms": math.nan}],
)  # fmt: skip
def test_thresholds_out_of_range(bad):
    name = next(iter(bad))
    with pytest.raises(InvalidRolloutError, match=f"threshold {name}="):
        Thresholds(**bad)
