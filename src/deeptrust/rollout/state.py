"""The rollout as data: which challenger runs, how, since when, and how the last one ended.

Transitions: ``idle → running`` (start), ``running → idle`` (promote, abort, automatic abort). The state
is a frozen value; the controller swaps it whole, so a request reads one consistent snapshot without a lock.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from deeptrust.rollout.errors import InvalidRolloutError


class Mode(enum.StrEnum):
    SHADOW = "shadow"  # the challenger scores a sample off the request path; the champion answers all
    CANARY = "canary"  # the challenger answers a share of images, sticky by sha256


@dataclass(frozen=True)
class Thresholds:
    """When a canary is stopped by itself: any limit breached over ``window_s`` once ``min_requests``
    canary answers are in the window. 0 turns a limit off (``max_error_rate`` 0 means "no error")."""

    window_s: float = 60.0  # seconds of traffic judged
    min_requests: int = 20  # canary answers needed before judging
    max_error_rate: float = 0.01  # canary errors / canary attempts (the image then falls back)
    max_p95_ms: float = 150.0  # the canary's p95 latency (decode + queue + model); 0: off
    max_disagreement: float = 0.2  # share of images labelled differently from the champion; 1: off
    abort_on_drift: bool = True  # a drift signal of the canary's version (deeptrust_drift_detected)

    def __post_init__(self) -> None:
        checks = {
            "window_s": self.window_s > 0,
            "min_requests": self.min_requests >= 1,
            "max_error_rate": 0 <= self.max_error_rate <= 1,
            "max_p95_ms": self.max_p95_ms >= 0,
            "max_disagreement": 0 <= self.max_disagreement <= 1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise InvalidRolloutError(f"threshold {name}={value!r} is out of range")


def check_share(share: float) -> float:
    """A share of traffic in [0, 1]; anything else is a clear error, never clipped."""
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0.0 <= float(share) <= 1.0:
        raise InvalidRolloutError(f"share must be between 0 and 1 (a fraction of requests), got {share!r}")
    return float(share)


def check_mode(mode: str) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        raise InvalidRolloutError(f"mode must be 'shadow' or 'canary', got {mode!r}") from None


@dataclass(frozen=True)
class Ended:
    """How the previous rollout ended: promoted, aborted by an operator, or aborted by a threshold."""

    outcome: str  # promoted | aborted
    reason: str  # manual, or the breached limit: error_rate | p95 | disagreement | drift
    detail: str
    model: dict[str, str]
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RolloutState:
    mode: Mode
    share: float
    reference: str  # what the challenger was loaded from (name, path or registry reference)
    challenger: dict[str, str]  # {name, version}
    champion: dict[str, str]
    thresholds: Thresholds
    started_at: float = field(default_factory=time.time)

    def with_share(self, share: float) -> RolloutState:
        return replace(self, share=check_share(share))

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["mode"] = self.mode.value
        return body
