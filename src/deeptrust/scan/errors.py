"""The one error type the scanner raises for bad arguments; the CLI turns it into exit code 2.

A bad *file* never raises: it becomes an error row. ScanError is for what stops a scan before it
starts (a missing source, an output written by another model, a missing optional extra).
"""

from __future__ import annotations


class ScanError(ValueError):
    """The scan cannot run as asked; the message says what was expected, what was found and what to do."""
