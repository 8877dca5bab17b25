"""Score many image files with a detector: decode in a thread pool, batch through ONNX Runtime.

Pillow releases the GIL while decoding and resizing, so threads decode in parallel while the main
thread runs the network on the previous batch. A bounded window of pending decodes keeps memory
flat however large the dataset. Unreadable files are recorded, never raised.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from rich.progress import (
    Progress,
)

from deeptrust.detector import Detector
from deeptrust.imageio import ImageError

Transform = Callable[[Image.Image], Image.Image] | None
# Errors that mean "this file cannot be scored"; anything else is a bug and propagates.
READ_ERRORS = (ImageError, OSError, ValueError)


@dataclass
class Scores:
    """Per transform, probabilities (n_ok, C) of the images that could be read, in input order."""

    probs: dict[str, np.ndarray]
    ok: np.ndarray  # bool (n_inputs,): which inputs were scored
    errors: list[dict[str, str]] = field(default_factory=list)


def default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def score_paths(
    detector: Detector,
    paths: Sequence[str],
    *,
    transforms: dict[str, Transform],
    batch_size: int = 256,
    workers: int | None = None,
    progress: Progress | None = None,
    description: str = "scoring",
) -> Scores:
    """Decode each path once, apply every transform, and score each variant with ``detector``."""
    n_classes = len(detector.card.class_names)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in transforms}
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[dict[str, str]] = []
    task = progress.add_task(description, total=len(paths)) if progress is not None else None

    def load(path: str) -> dict[str, np.ndarray] | str:
        try:
            img = detector.decode(path)
            return {n: detector.preprocess(fn(img) if fn else img) for n, fn in transforms.items()}
        except READ_ERRORS as exc:
            return f"{type(exc).__name__}: {exc}"

    pending: dict[str, list[np.ndarray]] = {name: [] for name in transforms}
    n_pending = 0
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for i, loaded in enumerate(bounded_map(pool, load, paths, window=2 * batch_size)):
            if isinstance(loaded, str):
                errors.append({"path": str(paths[i]), "error": loaded})
            else:
                ok[i] = True
                n_pending += 1
                for name, crops in loaded.items():
                    pending[name].append(crops)
            if n_pending >= batch_size:
                _flush(detector, pending, chunks, batch_size)
                n_pending = 0
            if progress is not None and task is not None:
                progress.advance(task)
        _flush(detector, pending, chunks, batch_size)
    probs = {
        name: np.concatenate(parts) if parts else np.zeros((0, n_classes), np.float32)
        for name, parts in chunks.items()
    }
    return Scores(probs=probs, ok=ok, errors=errors)


def _flush(
    detector: Detector,
    pending: dict[str, list[np.ndarray]],
    chunks: dict[str, list[np.ndarray]],
    batch_size: int,
) -> None:
    for name, crops in pending.items():
        if crops:  # Detector.predict_crops cannot take an empty list
            chunks[name].append(detector.predict_crops(crops, batch_size=batch_size))
        crops.clear()


def bounded_map(
    pool: Executor, fn: Callable[[Any], Any], items: Iterable[Any], *, window: int
) -> Iterator[Any]:
    """Like ``pool.map`` but with at most ``window`` tasks in flight, so results never pile up."""
    pending: deque[Any] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
