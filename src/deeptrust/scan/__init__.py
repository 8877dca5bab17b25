"""Batch scanning: score millions of stored images into a CSV, JSONL or Parquet file, resumably.

``deeptrust scan`` (:mod:`deeptrust.scan.cli`) and :func:`scan_images` read folders, globs, tar
archives and list files (:mod:`~deeptrust.scan.sources`), score each distinct content once with a
:class:`~deeptrust.Detector` on the local machine (:mod:`~deeptrust.scan.engine_local`) or on Ray
(:mod:`~deeptrust.scan.engine_ray`), and write rows in durable chunks (:mod:`~deeptrust.scan.writers`).
Non-goals: training data import (that is ``deeptrust data``), serving single requests (``serve``).
"""

from deeptrust.scan.errors import ScanError
from deeptrust.scan.run import ScanOptions, scan_images
from deeptrust.scan.summary import Summary

__all__ = ["ScanError", "ScanOptions", "Summary", "scan_images"]
