"""Score image files for a profile or an offline drift report: p_ai, image properties and pooled
features per image, decoded in a thread pool and batched through ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deeptrust.detector import Detector
from deeptrust.evaluate._scoring import bounded_map
from deeptrust.imageio import ImageError
from deeptrust.monitor.embed import has_feature_output, predict_with_embeddings
from deeptrust.monitor.properties import image_properties

READ_ERRORS = (ImageError, OSError, ValueError)


@dataclass
class Collected:
    """Per readable image, in input order: scores, properties and (when the model has them) features."""

    paths: list[str]
    p_ai: np.ndarray
    properties: list[dict[str, Any]]
    embeddings: np.ndarray | None
    errors: list[dict[str, str]] = field(default_factory=list)


def collect(
    detector: Detector,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 64,
    workers: int = 2,
    progress: Any = None,
) -> Collected:
    """Read, score and summarise every path; unreadable files are listed in ``errors``, never raised."""
    embed = detector.card.has_features and has_feature_output(detector)

    def load(path: str | Path) -> tuple[np.ndarray, dict[str, Any]] | str:
        try:
            data = Path(path).read_bytes()
            crops = detector.preprocess(detector.decode_array(data))
            return crops, image_properties(data)
        except READ_ERRORS as exc:
            return f"{type(exc).__name__}: {exc}"

    ok_paths: list[str] = []
    props: list[dict[str, Any]] = []
    scores: list[np.ndarray] = []
    pooled: list[np.ndarray] = []
    errors: list[dict[str, str]] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if not pending:
            return
        if embed:
            probs, feats = predict_with_embeddings(detector, pending, batch_size=64)
            pooled.append(feats)
        else:
            probs = detector.predict_crops(pending, batch_size=64)
        scores.append(detector.p_ai(probs))
        pending.clear()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # At most two batches decoded ahead of the model: memory stays flat however many paths.
        for path, loaded in zip(paths, bounded_map(pool, load, paths, window=2 * batch_size), strict=True):
            if isinstance(loaded, str):
                errors.append({"path": str(path), "error": loaded})
            else:
                ok_paths.append(str(path))
                pending.append(loaded[0])
                props.append(loaded[1])
                if len(pending) >= batch_size:
                    flush()
            if progress is not None:
                progress()
        flush()
    return Collected(
        paths=ok_paths,
        p_ai=np.concatenate(scores) if scores else np.zeros(0),
        properties=props,
        embeddings=np.concatenate(pooled) if pooled else None,
        errors=errors,
    )


def reference_profile(
    detector: Detector, paths: Sequence[str | Path], *, data: dict[str, Any]
) -> dict[str, Any]:
    """``card.drift_profile`` of ``detector`` on ``paths`` (its validation images): what export attaches."""
    from deeptrust.monitor.profile import build_profile

    c = collect(detector, paths)
    return build_profile(c.p_ai, c.properties, c.embeddings, data=data | {"unreadable": len(c.errors)})
