"""The one error type the data package raises for bad input; the CLI turns it into exit code 2."""

from __future__ import annotations


class DataError(ValueError):
    """The source cannot be imported as given; the message says what was expected and found."""
