"""Errors of a retrain; the CLI prints them and exits 2, the service answers a 4xx problem."""

from __future__ import annotations


class RetrainError(RuntimeError):
    """A retrain that cannot start or cannot finish; the message says what to do."""


class NoNewFeedbackError(RetrainError):
    """Fewer reviewed corrections than asked for since the last retrain (nothing to learn from)."""

    def __init__(self, message: str, *, new: int, needed: int) -> None:
        super().__init__(message)
        self.new, self.needed = new, needed
