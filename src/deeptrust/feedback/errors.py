"""Errors of the feedback store. The service maps them to HTTP statuses; the CLI to exit code 2."""

from __future__ import annotations


class FeedbackError(ValueError):
    """Input the store refuses (not an image, a bad label, a p_ai outside [0, 1]); the message says why."""


class ReviewError(FeedbackError):
    """A review decision that cannot be applied: unknown action, missing or invalid label."""


class ItemNotFoundError(FeedbackError, LookupError):
    """No review item has the given id."""
