"""``fit_run``: a config with a tapped-feature family → a run directory that ``deeptrust export`` takes.

The backbone is exported to ONNX once and run by ONNX Runtime, so the features the probe is fitted on
are those the deployed graph computes. Training images are seen as they are and in ``aug_views``
degraded copies (downscale and JPEG, with the config's augment probabilities); features are cached
per image set and view. The ridge probe is fitted with every group weighing the same, calibrated and
thresholded on validation, and written as the head of a :class:`~deeptrust.train.registry.Classifier`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from deeptrust._progress import create_progress
from deeptrust.card import Preprocessing
from deeptrust.preprocess import image_to_crops, normalize
from deeptrust.probe import cache
from deeptrust.probe.fit import GroupStats, to_head
from deeptrust.probe.protocol import FAKE_INDEX, PatchTable, Recipe, assign_groups, fit_calibrated
from deeptrust.settings import Settings, get_settings
from deeptrust.train.config import TrainConfig
from deeptrust.train.data import source_groups


class FeatureExtractor:
    """The config's backbone as an ONNX Runtime session: images → pooled features per patch."""

    def __init__(self, config: TrainConfig, pre: Preprocessing, *, threads: int = 0):
        from deeptrust.export.onnx import export_onnx, session
        from deeptrust.train.loop import build_model

        self.model = build_model(config, 2).eval()
        self.pre = pre
        self._tmp = tempfile.TemporaryDirectory()
        path = export_onnx(self.model, Path(self._tmp.name) / "backbone.onnx", input_size=pre.input_size)
        self.session = session(path, threads)

    def __call__(
        self, images: Iterator[np.ndarray], *, batch: int = 64, done: Callable[[], object] = lambda: None
    ) -> tuple[np.ndarray, np.ndarray]:
        feats, owner, pending, owners = [], [], [], []

        def flush() -> None:
            x = normalize(np.concatenate(pending), self.pre)
            (out,) = self.session.run(["features"], {"image": x})
            feats.append(out.mean(axis=(2, 3)))
            owner.extend(owners)
            pending.clear()
            owners.clear()

        for i, pixels in enumerate(images):
            crops = image_to_crops(pixels, self.pre)
            pending.append(crops)
            owners.extend([i] * len(crops))
            if len(owners) >= batch:
                flush()
            done()
        if owners:
            flush()
        return np.concatenate(feats), np.asarray(owner, np.int64)


def degrade(pixels: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """One augmented view: maybe downscaled (never below a patch), maybe re-encoded as JPEG."""
    a, size = config.augment, config.input.size
    img = Image.fromarray(pixels)
    if rng.random() < a.resize_p:
        f = rng.uniform(*a.resize_scale)
        img = img.resize((max(size, round(img.width * f)), max(size, round(img.height * f))), Image.BICUBIC)
    if rng.random() < a.jpeg_p:
        img = _jpeg(img, int(rng.integers(a.jpeg_quality[0], a.jpeg_quality[1] + 1)))
    return np.asarray(img, np.uint8)


def give_history(pixels: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """A generated image as a web photo reaches the data: maybe downscaled, JPEG-compressed, cropped by
    a few pixels (so the earlier 8×8 grid no longer lines up), then re-encoded as the data set was."""
    p, size = config.probe, config.input.size
    img = Image.fromarray(pixels)
    if rng.random() < p.history_resize_p:
        f = rng.uniform(*p.history_scale)
        w, h = max(size + 8, round(img.width * f)), max(size + 8, round(img.height * f))
        img = img.resize((w, h), (Image.BICUBIC, Image.LANCZOS, Image.BILINEAR)[int(rng.integers(3))])
    img = _jpeg(img, int(rng.integers(p.history_jpeg[0], p.history_jpeg[1] + 1)), int(rng.integers(2)) * 2)
    dx, dy = (int(v) for v in rng.integers(0, 8, size=2))
    img = img.crop((dx, dy, img.width, img.height))
    if p.history_final is not None:
        img = _jpeg(img, p.history_final, 2)
    return np.asarray(img, np.uint8)


def _jpeg(img: Image.Image, quality: int, subsampling: int = -1) -> Image.Image:
    """``img`` through a JPEG round trip (subsampling: 0 4:4:4, 2 4:2:0, -1 Pillow's default)."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def cached_features(
    extractor: FeatureExtractor,
    images: list[np.ndarray],
    sha256: list[str],
    view: str,
    config: TrainConfig,
    settings: Settings,
    *,
    show: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``images`` in ``view`` ("clean" or "aug<k>"), computing only images not cached yet.

    One store per view and feature recipe, keyed by image sha256, so configs sharing images (one
    dataset alone and combined with others) share the work. An augmented view is seeded per image.
    """
    m = config.model
    ident = [view, str(config.seed), m.family, ",".join(m.taps), str(m.squares), repr(extractor.pre)]
    if m.inputs != ("rgb",):
        ident.append(",".join(m.inputs))
    if view.startswith("aug"):
        ident.append(config.augment.model_dump_json())
    elif view.startswith("hist"):
        ident.append(
            config.probe.model_dump_json(include={n for n in config.probe.model_fields if "history" in n})
        )
    key = hashlib.sha256("\n".join(ident).encode()).hexdigest()[:20]
    path = settings.cache_dir / "probe" / f"{view}-{key}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        feats, owner, keys = cache.load(path)
        known = {k: feats[owner == i] for i, k in enumerate(keys)}
    missing = [i for i, sha in enumerate(sha256) if sha not in known]
    if missing:
        todo = (images[i] for i in missing)
        if view != "clean":
            change = give_history if view.startswith("hist") else degrade
            todo = (change(images[i], config, _image_rng(config.seed, view, sha256[i])) for i in missing)
        with create_progress(enabled=show, unit="img") as bar:
            task = bar.add_task(f"features ({view})", total=len(missing))
            feats, owner = extractor(todo, done=lambda: bar.advance(task))
        for n, i in enumerate(missing):
            known[sha256[i]] = feats[owner == n]
        keys = sorted(known)
        cache.save(
            path,
            np.concatenate([known[k] for k in keys]),
            np.concatenate([np.full(len(known[k]), i) for i, k in enumerate(keys)]),
            keys,
        )
    rows = [known[sha] for sha in sha256]
    return np.concatenate(rows), np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])


def _image_rng(seed: int, view: str, sha256: str) -> np.random.Generator:
    kind, k = view.rstrip("0123456789"), int(view.lstrip("abcdefghijklmnopqrstuvwxyz"))
    return np.random.default_rng([seed, k, int(sha256[:8], 16)] + ([1] if kind == "hist" else []))


def image_table(data: dict[str, Any], config: TrainConfig) -> pd.DataFrame:
    """Train then val rows of the prepared data, with the group each image weighs in."""
    rows = pd.concat([data["train"].rows, data["val"].rows], ignore_index=True)
    if "generator" not in rows:
        rows["generator"] = ""
    rows["source"] = source_groups(rows, default=config.name).astype(object)
    rows["group"] = assign_groups(rows, by=config.probe.by, min_group=config.probe.min_group)
    return rows


def build_table(config: TrainConfig, settings: Settings, show: bool) -> tuple[PatchTable, dict[str, Any]]:
    """The prepared data's patch features (train: clean + augmented views; val: clean)."""
    from deeptrust.train.loop import prepare_data, preprocessing_of

    data = prepare_data(config, settings, show)
    pre = preprocessing_of(config)
    extractor = FeatureExtractor(config, pre, threads=config.optim.threads or 0)
    images = data["train"].images + data["val"].images
    shas = [*data["train"].rows["sha256"], *data["val"].rows["sha256"]]
    n_train = len(data["train"].images)
    views: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "clean": cached_features(extractor, images, shas, "clean", config, settings, show=show)
    }
    for k in range(1, config.probe.aug_views + 1):
        f, o = cached_features(
            extractor, images[:n_train], shas[:n_train], f"aug{k}", config, settings, show=show
        )
        views[f"aug{k}"] = (f, o)  # owners index the train rows, which come first in the table
    fake = np.flatnonzero(data["train"].rows["label"].to_numpy() != config.data.real_class)
    for k in range(1, config.probe.history_views + 1):  # generated training images only
        f, o = cached_features(
            extractor,
            [images[i] for i in fake],
            [shas[i] for i in fake],
            f"hist{k}",
            config,
            settings,
            show=show,
        )
        views[f"hist{k}"] = (f, fake[o])
    recipe = Recipe(
        columns=np.arange(views["clean"][0].shape[1]),
        alpha=config.probe.alpha,
        aggregate=config.input.aggregate,
        top_k=config.input.top_k,
        target_fpr=config.target_fpr,
        threshold_by=config.probe.threshold_by,
        min_source=config.probe.min_source,
    )
    return PatchTable(image_table(data, config), views, recipe), data


def train_views(config: TrainConfig) -> tuple[str, ...]:
    p = config.probe
    return (
        "clean",
        *(f"aug{k}" for k in range(1, p.aug_views + 1)),
        *(f"hist{k}" for k in range(1, p.history_views + 1)),
    )


def fit_run(config: TrainConfig, *, show: bool = True, settings: Settings | None = None) -> Path:
    """Fit the probe on the training split and write ``best.pt`` + ``summary.json`` for export."""
    from deeptrust.evaluate.metrics import compute_metrics
    from deeptrust.train.loop import build_model
    from deeptrust.train.tracking import Tracker

    settings = settings or get_settings()
    out = Path(config.out_dir or settings.runs_dir / config.name)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table, data = build_table(config, settings, show)
    stats: dict[str, GroupStats] = table.stats(train_views(config))
    probe, threshold, p_val = fit_calibrated(table, stats, sorted(stats))
    val = (table.images["split"] == "val").to_numpy()
    class_names = data["class_names"]
    if class_names[FAKE_INDEX] == config.data.real_class or len(class_names) != 2:
        raise ValueError(f"a probe is binary with the generated class first, got classes {class_names}")
    probs = np.stack([p_val[val], 1 - p_val[val]], axis=1)
    labels = table.images.loc[val, "label"].tolist()
    metrics = compute_metrics(
        labels, probs, class_names=class_names, real_class=config.data.real_class, threshold=threshold
    )
    model = build_model(config, len(class_names)).eval()
    weight, bias = to_head(probe, fake_index=FAKE_INDEX)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight))
        model.head.bias.copy_(torch.from_numpy(bias))
    minutes = (time.perf_counter() - started) / 60
    state = {"family": config.model.family, "config": config.model_dump(mode="json")}
    torch.save(state | {"class_names": class_names, "model": model.state_dict()}, out / "best.pt")
    tracker = Tracker(settings, experiment=config.name)
    try:
        tracker.log_params(
            {"family": config.model.family, "alpha": config.probe.alpha, "by": config.probe.by}
        )
        tracker.log_metrics({f"best_val_{k}": v for k, v in metrics.items() if isinstance(v, float)}, 0)
        summary = _summary(config, data, metrics, threshold, minutes, tracker.run_id, stats)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        tracker.log_artifact(out / "summary.json")
    finally:
        tracker.close()
    return out


def _summary(config, data, metrics, threshold, minutes, run_id, stats) -> dict[str, Any]:
    from deeptrust.train.loop import dataset_summary

    return {
        "name": config.name,
        "family": config.model.family,
        "class_names": data["class_names"],
        "threshold": float(threshold),
        "target_fpr": config.target_fpr,
        "threshold_by": config.probe.threshold_by,
        "best_epoch": 0,
        "epochs_run": 0,
        "train_minutes": round(minutes, 2),
        "dataset": dataset_summary(config, data),
        "groups": {
            g: {"label": "FAKE" if s.label else "REAL", "train_patches": s.n} for g, s in stats.items()
        },
        "validation": metrics,
        "history": [],
        "mlflow_run_id": run_id,
    }
