"""What can go wrong when asking for a rollout; the admin API maps each to one problem type."""

from __future__ import annotations


class RolloutError(Exception):
    """Base class; ``status`` and ``type_`` are the HTTP answer the admin API gives."""

    status = 422
    type_ = "invalid-rollout"


class InvalidRolloutError(RolloutError):
    """A request that can never be right: a share outside 0–1, an unknown mode, a bad threshold."""


class NoRolloutError(RolloutError):
    """Promote or abort with no rollout running."""

    status = 409
    type_ = "no-rollout"


class RolloutRunningError(RolloutError):
    """Start while another rollout runs: abort or promote it first."""

    status = 409
    type_ = "rollout-running"


class ChallengerNotAllowedError(RolloutError):
    """A challenger reference outside the directories models may be loaded from."""

    type_ = "model-not-allowed"


class UnknownChallengerError(RolloutError):
    """No model by that name or at that path."""

    status = 404
    type_ = "unknown-model"


class ChallengerLoadError(RolloutError):
    """The challenger was found but does not load; the champion goes on alone."""

    type_ = "model-load-failed"


class RegistryDownError(RolloutError):
    """The registry does not answer and nothing usable is cached."""

    status = 503
    type_ = "registry-unavailable"


class ModelIntegrityError(RolloutError):
    """The registry's artifacts do not match their recorded sha256."""

    type_ = "model-integrity"


class PromotionRefusedByRegistryError(RolloutError):
    """The registry refuses to move the champion alias (the version has not passed its quality gate)."""

    status = 409
    type_ = "promotion-refused"
