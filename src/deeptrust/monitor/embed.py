"""Scores and pooled features from one model call: the ONNX graph's ``features`` output (the map CAM
uses) averaged over its spatial positions and over an image's patches. Costs no extra inference — the
graph computes that output for every call anyway."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from deeptrust.detector import Detector, aggregate, softmax

FEATURES_OUTPUT = "features"


def predict_with_embeddings(
    detector: Detector, crops: Sequence[np.ndarray], *, batch_size: int = 1 << 30
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image crop stacks → (probabilities (N, C) as ``Detector.predict_crops``, pooled (N, K))."""
    counts = [len(c) for c in crops]
    flat = np.concatenate(crops)
    logits, pooled = [], []
    for i in range(0, len(flat), batch_size):
        lg, feats = detector.session.run(
            ["logits", FEATURES_OUTPUT], {detector._input: flat[i : i + batch_size]}
        )
        logits.append(lg)
        pooled.append(feats.reshape(feats.shape[0], feats.shape[1], -1).mean(axis=2))
    probs = softmax(np.concatenate(logits).astype(np.float32))
    features = np.concatenate(pooled).astype(np.float32)
    bounds = np.cumsum([0, *counts])
    pre, real = detector.card.preprocessing, detector.card.real_index
    per_image = [aggregate(probs[a:b], pre.aggregate, pre.top_k, real) for a, b in itertools.pairwise(bounds)]
    return np.stack(per_image), np.stack([features[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])


def has_feature_output(detector: Detector) -> bool:
    return any(o.name == FEATURES_OUTPUT for o in detector.session.get_outputs())
