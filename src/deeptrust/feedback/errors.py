"""Errors of the feedback store. The service maps them to HTTP statuses; the CLI to exit code 2."""

from __future__ import annotations


class FeedbackError(ValueError):
    """Input the store refuses (not an image, a bad label, a p_ai outside [0, 1]); the message says why."""


class ReviewError(FeedbackError):
    """A review decision that cannot be applied: unknown action, missing or invalid label."""


class ItemNotFoundError(FeedbackError, LookupError):
    """No review item has the given id."""


class FeedbackImageError(FeedbackError):
    """Bytes that do not decode as an image under the pixel cap; ``__cause__`` is the ImageError."""

    def __init__(self, message: str, *, reason: str = "invalid_image") -> None:
        super().__init__(message)
        self.reason = reason  # deeptrust.imageio's code: unsupported_format, corrupt_image, too_many_pixels


class FeedbackLimitError(FeedbackError):
    """A caller reached DEEPTRUST_FEEDBACK_MAX_PER_CALLER_PER_DAY items in the last 24 hours."""
