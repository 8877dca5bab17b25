"""Pooled tap features on disk: one ``.npz`` per view and feature recipe, rows keyed by image sha256
(``owner`` says which image a patch row belongs to), so fitting and the leave-one-out protocol never
run the backbone twice. :mod:`deeptrust.probe.run` computes them through ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save(path: Path, feats: np.ndarray, owner: np.ndarray, keys: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, feats=feats.astype(np.float16), owner=owner, keys=np.asarray(keys))
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with np.load(path) as z:
        return z["feats"].astype(np.float32), z["owner"], [str(k) for k in z["keys"]]
