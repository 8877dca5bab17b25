"""Rollout: a challenger model beside the champion, in shadow (scores a sample off the request path) or as
a canary (answers a share, sticky by image sha256); per model version metrics; automatic abort; live
quality from reviewed feedback. The service reaches it through ``install(service)``; the admin API is
``serve/routes/rollout.py`` and the CLI ``deeptrust rollout``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deeptrust.rollout.errors import (
    ChallengerLoadError,
    ChallengerNotAllowedError,
    InvalidRolloutError,
    NoRolloutError,
    RolloutError,
    RolloutRunningError,
    UnknownChallengerError,
)
from deeptrust.rollout.state import Mode, Thresholds

if TYPE_CHECKING:
    from deeptrust.rollout.controller import Rollout
    from deeptrust.serve.service import Service

__all__ = [
    "ChallengerLoadError",
    "ChallengerNotAllowedError",
    "InvalidRolloutError",
    "Mode",
    "NoRolloutError",
    "RolloutError",
    "RolloutRunningError",
    "Thresholds",
    "UnknownChallengerError",
    "install",
]


def install(service: Service) -> Rollout:
    """Hang a rollout controller on ``service`` (kept in ``service.extras['rollout']``)."""
    from deeptrust.rollout.controller import Rollout

    rollout = Rollout(service)
    rollout.install()
    service.extras["rollout"] = rollout
    return rollout
