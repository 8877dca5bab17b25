"""Decoded pixels for training: read a manifest's images once, keep them in memory (and on disk for
small equal-sized images such as CIFAKE), and draw augmented batches from them.

Non-goal: streaming datasets larger than memory; the shipped datasets decode to < 1 GB.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from deeptrust.card import Preprocessing
from deeptrust.imageio import open_image
from deeptrust.preprocess import image_to_crops
from deeptrust.train.augment import augment
from deeptrust.train.config import AugmentConfig, InputConfig


@dataclass
class SplitPixels:
    images: list[np.ndarray]  # uint8 (H, W, 3), native resolution
    labels: np.ndarray  # int64 class indices
    rows: pd.DataFrame  # the manifest rows, in the same order


def progress_bar(show: bool = True) -> Progress:
    """A bar with count, rate and ETA; with ``show`` false it draws and prints nothing."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        disable=not show,
    )


def _decode(path: str) -> np.ndarray:
    return np.asarray(open_image(path), dtype=np.uint8)


def load_split(
    manifest: pd.DataFrame,
    split: str,
    class_names: list[str],
    *,
    cache_dir: Path,
    show: bool = True,
) -> SplitPixels:
    rows = manifest[manifest["split"] == split].sort_values("relpath").reset_index(drop=True)
    labels = rows["label"].map({c: i for i, c in enumerate(class_names)}).to_numpy(np.int64)
    key = hashlib.sha256("\n".join(rows["sha256"]).encode()).hexdigest()[:16]
    cached = cache_dir / f"pixels-{split}-{key}.npy"
    if cached.exists():
        stacked = np.load(cached)
        return SplitPixels(list(stacked), labels, rows)
    images = _decode_all(rows["path"].tolist(), f"decode {split}", show)
    if images and len({im.shape for im in images}) == 1 and images[0].size <= 64 * 64 * 3:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cached, np.stack(images))
    return SplitPixels(images, labels, rows)


def _decode_all(paths: list[str], description: str, show: bool) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    with progress_bar(show) as bar, ThreadPoolExecutor(max_workers=4) as pool:
        task = bar.add_task(description, total=len(paths), rate="")
        for im in pool.map(_decode, paths, chunksize=256):
            out.append(im)
            bar.advance(task)
    return out


def source_groups(rows: pd.DataFrame, default: str = "") -> pd.Series:
    """Each image's source; an image without one (a dataset that names none) is its dataset's, if the
    manifest has a ``dataset`` column (a combined config), else ``default``."""
    source = rows["source"] if "source" in rows else pd.Series("", index=rows.index)
    source = source.astype("string").replace("", pd.NA)
    fallback = rows["dataset"].astype("string") if "dataset" in rows else default
    return source.fillna(fallback).fillna(default)


def group_weights(rows: pd.DataFrame, balance: float) -> np.ndarray:
    """Each image's probability of being drawn, ∝ (images of its label and source)^-``balance``
    (sources as :func:`source_groups` names them)."""
    key = rows["label"].astype("string") + "\x1f" + source_groups(rows)
    sizes = key.map(key.value_counts()).to_numpy(np.float64)
    weights = sizes ** -float(balance)
    return weights / weights.sum()


def fixed_crops(split: SplitPixels, pre: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation crops (as at inference) of every image: uint8 crops and each crop's image index."""
    from PIL import Image

    crops, owner = [], []
    for i, pixels in enumerate(split.images):
        c = image_to_crops(Image.fromarray(pixels), pre)
        crops.append(c)
        owner.extend([i] * len(c))
    return np.concatenate(crops), np.asarray(owner, dtype=np.int64)


def to_tensor(crops: np.ndarray, inp: InputConfig) -> torch.Tensor:
    """uint8 (N, H, W, 3) → normalised float32 (N, 3, H, W) in channels-last memory layout."""
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(inp.mean).view(1, 3, 1, 1)
    std = torch.tensor(inp.std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def augmented_batch(
    split: SplitPixels,
    idx: np.ndarray,
    aug: AugmentConfig,
    inp: InputConfig,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    crops = np.stack([augment(split.images[i], aug, inp, rng) for i in idx])
    return to_tensor(crops, inp), torch.from_numpy(split.labels[idx])
