"""Bytes → outcome with a :class:`~deeptrust.Detector`: hash, decode, preprocess, batched inference.

Shared by both engines. The local engine runs :func:`score_batch` in worker threads (Pillow and
ONNX Runtime release the GIL) or in worker processes (:func:`init_worker` / :func:`score_in_worker`);
the Ray engine decodes with :func:`decode_one` in its tasks and predicts in its actors.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from deeptrust.detector import Detector
from deeptrust.evidence.scan import scan_evidence
from deeptrust.imageio import ImageError, sniff_format
from deeptrust.scan.results import Outcome


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_one(detector: Detector, data: bytes) -> tuple[np.ndarray | None, Outcome]:
    """Crops ready for the network and the image's facts, or no crops and an error outcome.

    Untrusted bytes must never stop a scan of millions of files, so anything decoding raises becomes
    an error: an :class:`ImageError` keeps its reason, anything else is reported as ``invalid_image``.
    """
    fmt = sniff_format(data)
    try:
        pixels = detector.decode_array(data)
        crops = detector.preprocess(pixels)
    except ImageError as exc:
        return None, Outcome(format=fmt, error=f"{exc.reason}: {exc}")
    except Exception as exc:  # see the docstring
        return None, Outcome(format=fmt, error=f"invalid_image: {type(exc).__name__}: {exc}")
    evidence = scan_evidence(data, pixels)  # never raises: a failing reader is an entry
    return crops, Outcome(width=pixels.shape[1], height=pixels.shape[0], format=fmt, evidence=evidence)


def predict_outcomes(
    detector: Detector, crops: Sequence[np.ndarray | None], outcomes: Sequence[Outcome]
) -> list[Outcome]:
    """Run the decoded ones through the model in one batch; error outcomes pass through unchanged."""
    ready = [c for c in crops if c is not None]
    probs = iter(detector.predict_crops(ready))
    return [
        outcome if c is None else _with_probs(outcome, next(probs))
        for c, outcome in zip(crops, outcomes, strict=True)
    ]


def score_batch(detector: Detector, items: Sequence[bytes]) -> list[Outcome]:
    """Decode, preprocess and score a batch of contents, one outcome per item."""
    decoded = [decode_one(detector, data) for data in items]
    return predict_outcomes(detector, [c for c, _ in decoded], [o for _, o in decoded])


def _with_probs(outcome: Outcome, probs: np.ndarray) -> Outcome:
    return dataclasses.replace(outcome, probs=tuple(float(p) for p in probs))


@lru_cache(maxsize=2)
def cached_detector(model_path: str, threads: int, max_pixels: int) -> Detector:
    """One Detector per worker process (process pools and Ray workers reuse their processes)."""
    return Detector.load(Path(model_path), threads=threads, max_pixels=max_pixels)


_worker_args: tuple[str, int, int] | None = None


def init_worker(model_path: str, threads: int, max_pixels: int) -> None:
    global _worker_args
    _worker_args = (model_path, threads, max_pixels)


def score_in_worker(items: Sequence[bytes]) -> list[Outcome]:
    """:func:`score_batch` in a process-pool worker set up by :func:`init_worker`."""
    if _worker_args is None:
        raise RuntimeError("score_in_worker needs init_worker to run first in this process")
    return score_batch(cached_detector(*_worker_args), items)
