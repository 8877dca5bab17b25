"""Train a model family on an imported dataset, tracked in MLflow, resumable, with early stopping.

    deeptrust train --config configs/cifake.yaml            # fresh run → <home>/runs/cifake/
    deeptrust train --config configs/cifake.yaml --resume   # continue from runs/cifake/last.pt
    deeptrust export --run .deeptrust/runs/cifake --out models/cifake

The run directory holds ``last.pt`` and ``best.pt`` (one dict each: family, config, class names,
weights, optimiser, scheduler, epoch, RNG state) and ``summary.json`` (validation metrics and the
decision threshold chosen on validation for the configured false-positive rate).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from deeptrust.card import Preprocessing
from deeptrust.evaluate.metrics import choose_threshold, compute_metrics
from deeptrust.settings import Settings, get_settings
from deeptrust.train import _artifacts
from deeptrust.train.config import TrainConfig
from deeptrust.train.data import (
    SplitPixels,
    augmented_batch,
    fixed_crops,
    group_weights,
    load_split,
    progress_bar,
    to_tensor,
)
from deeptrust.train.registry import Classifier, create_model
from deeptrust.train.tracking import Tracker


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str | None = None
    seconds: float = 0.0  # training wall time so far, across resumes
    resumed_from: list[int] = field(default_factory=list)  # the epoch each resume started from


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def preprocessing_of(config: TrainConfig) -> Preprocessing:
    i = config.input
    return Preprocessing(
        input_size=i.size,
        crop=i.crop,
        num_crops=i.num_crops,
        flip=i.flip,
        max_patches=i.max_patches,
        aggregate=i.aggregate,
        top_k=i.top_k,
        mean=i.mean,
        std=i.std,
    )


def open_dataset(config: TrainConfig, show: bool):
    """The config's dataset, imported on first use: one source, or several combined (``data.sources``)."""
    from deeptrust.data import ensure_combined, ensure_dataset
    from deeptrust.data.combine import describe_combined

    d = config.data
    if d.sources:  # several datasets, each split as imported, de-duplicated across them
        dataset = ensure_combined([s.model_dump() for s in d.sources], name=config.name, progress=show)
        print(describe_combined(dataset))
        return dataset
    return ensure_dataset(
        d.source,
        name=config.name,
        val_fraction=d.val_fraction,
        test_fraction=d.test_fraction,
        seed=d.split_seed,
        progress=show,
    )


def prepare_data(config: TrainConfig, settings: Settings, show: bool) -> dict[str, Any]:
    d = config.data
    dataset = open_dataset(config, show)
    manifest = dataset.manifest
    if d.limit_per_split:
        shuffled = manifest.sample(frac=1.0, random_state=config.seed)
        manifest = shuffled.groupby(["split", "label"]).head(d.limit_per_split).reset_index(drop=True)
    class_names = sorted(manifest["label"].unique())
    if d.real_class not in class_names:
        raise ValueError(f"real class {d.real_class!r} not among the dataset's labels {class_names}")
    cache = settings.cache_dir / "pixels"
    train_px = load_split(manifest, "train", class_names, cache_dir=cache, show=show)
    val_px = load_split(manifest, "val", class_names, cache_dir=cache, show=show)
    if not len(train_px.labels) or not len(val_px.labels):
        raise ValueError("the dataset needs both a train and a val split with images")
    return {"dataset": dataset, "class_names": class_names, "train": train_px, "val": val_px}


def make_scheduler(opt: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = config.optim.epochs * steps_per_epoch
    warmup = max(1, int(config.optim.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:  # linear warm-up, then cosine to zero
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@torch.no_grad()
def predict_probs(model: nn.Module, x: torch.Tensor, owner: np.ndarray, *, bf16: bool) -> np.ndarray:
    """Class probabilities per image, averaged over its fixed crops (as the ONNX Detector does)."""
    model.eval()
    probs = []
    for i in range(0, len(x), 256):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x[i : i + 256])
        probs.append(torch.softmax(logits.float(), dim=1).numpy())
    flat = np.concatenate(probs)
    n = int(owner.max()) + 1
    out = np.zeros((n, flat.shape[1]), np.float64)
    np.add.at(out, owner, flat)
    return out / np.bincount(owner, minlength=n)[:, None]


def make_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of the weights and BatchNorm statistics, or None."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def eval_model(model: nn.Module, ema: AveragedModel | None) -> nn.Module:
    """The weights that are validated, checkpointed as best and exported."""
    return model if ema is None else ema.module


def train_one_epoch(
    model, opt, sched, split: SplitPixels, config: TrainConfig, rng, show: bool, ema=None, *, shard=(0, 1)
) -> float:
    """One epoch; returns the mean training loss.

    ``shard=(rank, world)``: data-parallel training (the Ray engine, ``model`` wrapped in DDP). Every
    rank draws the same order and augments the same global batch (the local run's random stream), then
    trains on its contiguous slice of it; see :func:`_sharded_loss` for the gradient it averages.
    """
    model.train()
    o = config.optim
    n = o.samples_per_epoch or len(split.labels)
    if o.balance:
        order = rng.choice(len(split.labels), size=n, p=group_weights(split.rows, o.balance))
    else:
        order = rng.choice(len(split.labels), size=n, replace=n > len(split.labels))
    loss_sum, seen, t0 = 0.0, 0.0, time.perf_counter()
    with progress_bar(show) as bar:
        task = bar.add_task("train", total=n, rate="")
        for start in range(0, n, o.batch_size):
            idx = order[start : start + o.batch_size]
            x, y = augmented_batch(split, idx, config.augment, config.input, rng)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=o.autocast_bf16):
                if shard[1] == 1:
                    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=o.label_smoothing)
                    summed, count = None, len(idx)
                else:
                    loss, summed, count = _sharded_loss(model, x, y, shard, o.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            loss_sum += loss.item() * count if summed is None else summed
            seen += count
            rate = f"{seen / (time.perf_counter() - t0):.0f} img/s loss {loss_sum / max(seen, 1):.4f}"
            bar.update(task, advance=len(idx), rate=rate)
    if shard[1] > 1:  # the epoch's loss over every rank's samples, as one process would see it
        import torch.distributed as dist

        total = torch.tensor([loss_sum, seen], dtype=torch.float64)
        dist.all_reduce(total)
        loss_sum, seen = float(total[0]), float(total[1])
    return loss_sum / max(1, seen)


def _sharded_loss(model, x, y, shard: tuple[int, int], label_smoothing: float):
    """This rank's loss on its slice of the global batch, scaled so that DDP's gradient average over
    ``world`` ranks equals the gradient of the global batch's mean loss (exactly, but for BatchNorm,
    whose batch statistics are each rank's own: SyncBatchNorm needs a GPU, and for dropout masks).
    Returns it, the slice's summed loss and its sample count. A rank whose slice is empty (a last batch
    smaller than ``world``) computes one sample with weight zero, so that it still joins DDP's
    gradient all-reduce."""
    rank, world = shard
    lo, hi = _slice(len(y), rank, world)
    weight = torch.ones(hi - lo)
    if hi == lo:
        lo, hi, weight = 0, 1, torch.zeros(1)
    per_sample = nn.functional.cross_entropy(
        model(x[lo:hi]), y[lo:hi], label_smoothing=label_smoothing, reduction="none"
    ).float()
    summed = (per_sample * weight).sum()
    return summed * world / len(y), float(summed.detach()), int(weight.sum())


def _slice(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share of ``n`` items (sizes differ by at most one)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def validate(model, val: SplitPixels, val_x, owner, class_names, config: TrainConfig, *, bf16: bool):
    probs = predict_probs(model, val_x, owner, bf16=bf16)
    labels = [class_names[i] for i in val.labels]
    real = class_names.index(config.data.real_class)
    p_ai = 1.0 - probs[:, real]
    y_ai = (val.labels != real).astype(int)
    threshold = choose_threshold(y_ai, p_ai, target_fpr=config.target_fpr)
    metrics = compute_metrics(
        labels,
        probs,
        class_names=class_names,
        real_class=config.data.real_class,
        threshold=threshold,
    )
    picked = np.clip(probs[np.arange(len(probs)), val.labels], 1e-7, 1.0)
    metrics["loss"] = float(-np.log(picked).mean())
    return probs, metrics


def save_checkpoint(
    path: Path, model, opt, sched, state: TrainState, config, class_names, data, ema=None
) -> None:
    checkpoint = {
        "family": config.model.family,
        "config": config.model_dump(mode="json"),
        "class_names": class_names,
        "model": eval_model(model, ema).state_dict(),  # what export loads
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "state": asdict(state),
        "dataset": {"name": data["dataset"].name, "hash": data["dataset"].dataset_hash},
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
    }
    if ema is not None:  # resuming needs the raw weights too
        checkpoint["train_model"] = model.state_dict()
        checkpoint["ema_n_averaged"] = int(ema.n_averaged)
    tmp = path.with_suffix(".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint


def build_model(config: TrainConfig, num_classes: int, *, pretrained: bool | None = None) -> Classifier:
    extra: dict[str, object] = {} if config.model.dropout is None else {"dropout": config.model.dropout}
    if config.model.family.endswith("_taps"):
        extra |= {"taps": config.model.taps, "squares": config.model.squares, "inputs": config.model.inputs}
    use_pretrained = config.model.pretrained if pretrained is None else pretrained
    return create_model(config.model.family, num_classes=num_classes, pretrained=use_pretrained, **extra)


def training_setup(config: TrainConfig, num_classes: int, steps_per_epoch: int):
    """The model (channels-last), its optimizer, warm-up + cosine schedule and EMA (or None) of a run."""
    model = build_model(config, num_classes).to(memory_format=torch.channels_last)
    o = config.optim
    if o.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(), lr=o.lr, momentum=o.momentum, nesterov=True, weight_decay=o.weight_decay
        )
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return model, opt, make_scheduler(opt, config, steps_per_epoch), make_ema(model, o.ema)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    show: bool = True,
    settings: Settings | None = None,
) -> Path:
    settings = settings or get_settings()
    out = Path(config.out_dir or settings.runs_dir / config.name)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    torch.set_num_threads(config.optim.threads or torch.get_num_threads())
    data = prepare_data(config, settings, show)
    class_names, train_px, val_px = data["class_names"], data["train"], data["val"]
    val_crops, owner = fixed_crops(val_px, preprocessing_of(config))
    val_x = to_tensor(val_crops, config.input)

    o = config.optim
    steps = math.ceil((o.samples_per_epoch or len(train_px.labels)) / o.batch_size)
    model, opt, sched, ema = training_setup(config, len(class_names), steps)
    state, rng = TrainState(), np.random.default_rng(config.seed)
    last = out / "last.pt"
    if resume and last.exists():
        state, rng = restore_checkpoint(last, model, opt, sched, config, ema)
    elif last.exists() and not resume:
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it or remove it")

    tracker = Tracker(settings, experiment=config.name, run_id=state.run_id)
    state.run_id = tracker.run_id
    tracker.log_params(flat_params(config, data))
    try:
        _epochs(model, ema, opt, sched, state, rng, config, data, val_x, owner, out, tracker, show)
        summary = finish_run(eval_model(model, ema), out, config, data, val_x, owner, state, tracker)
    finally:
        tracker.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out


def _epochs(model, ema, opt, sched, state, rng, config, data, val_x, owner, out, tracker, show) -> None:
    o, names = config.optim, data["class_names"]
    while state.epoch < o.epochs:
        t0 = time.perf_counter()
        train_loss = train_one_epoch(model, opt, sched, data["train"], config, rng, show, ema)
        scored = eval_model(model, ema)
        _, metrics = validate(scored, data["val"], val_x, owner, names, config, bf16=o.autocast_bf16)
        row, improved = record_epoch(state, train_loss, metrics, sched, seconds=time.perf_counter() - t0)
        tracker.log_metrics(row, step=state.epoch)
        if show:
            print(format_epoch(state, row, improved, o.epochs), flush=True)
        if improved:
            save_checkpoint(out / "best.pt", model, opt, sched, state, config, names, data, ema)
        save_checkpoint(out / "last.pt", model, opt, sched, state, config, names, data, ema)
        if stop_reason(state, config):
            print(stop_reason(state, config))
            break


def record_epoch(state: TrainState, train_loss: float, metrics: dict[str, Any], sched, *, seconds: float):
    """Count a finished epoch in ``state``: its history row (what MLflow gets) and whether it is the best."""
    state.seconds += seconds
    state.epoch += 1
    row = {
        "epoch": state.epoch,
        "train_loss": train_loss,
        "lr": sched.get_last_lr()[0],
        "seconds": state.seconds,
        **{f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None},
    }
    state.history.append(row)
    improved = metrics["loss"] < state.best_loss
    if improved:
        state.best_loss, state.best_epoch, state.bad_epochs = metrics["loss"], state.epoch, 0
    else:
        state.bad_epochs += 1
    return row, improved


def format_epoch(state: TrainState, row: dict[str, float], improved: bool, epochs: int) -> str:
    """The line printed after each epoch (``*``: the best so far)."""
    return (
        f"epoch {state.epoch}/{epochs}: train_loss {row['train_loss']:.4f} val_loss {row['val_loss']:.4f} "
        f"val_acc {row['val_accuracy']:.4f} val_auc {row.get('val_roc_auc', float('nan')):.5f} "
        f"({state.seconds / 60:.1f} min){' *' if improved else ''}"
    )


def stop_reason(state: TrainState, config: TrainConfig) -> str | None:
    """Why training stops before its last epoch (early stopping, time budget), or None."""
    o = config.optim
    if state.bad_epochs >= o.patience:
        return f"early stop: no better validation loss for {o.patience} epochs"
    if o.max_minutes and state.seconds > o.max_minutes * 60:
        return f"time budget of {o.max_minutes} min reached"
    return None


def dataset_summary(config: TrainConfig, data: dict[str, Any]) -> dict[str, Any]:
    """What a run's summary (and so its model card) records of the data it was trained on."""
    return {
        "name": data["dataset"].name,
        "hash": data["dataset"].dataset_hash,
        "source": config.data.source,
        **({"parts": data["dataset"].parts} if config.data.sources else {}),
        "options": {
            "val_fraction": config.data.val_fraction,
            "test_fraction": config.data.test_fraction,
            "seed": config.data.split_seed,
        },
        "n": {s: len(data[s].labels) for s in ("train", "val")},
    }


def finish_run(model, out, config, data, val_x, owner, state, tracker, extra=None) -> dict[str, Any]:
    """Best weights, fp32 validation scores → threshold and metrics; artifacts to MLflow.

    ``extra``: more summary fields (the Ray engine's workers and restarts)."""
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(best["model"])
    probs, metrics = validate(model, data["val"], val_x, owner, data["class_names"], config, bf16=False)
    summary = {
        "name": config.name,
        "family": config.model.family,
        "class_names": data["class_names"],
        "threshold": metrics["threshold"],
        "target_fpr": config.target_fpr,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "train_minutes": round(state.seconds / 60, 2),
        "dataset": dataset_summary(config, data),
        "validation": metrics,
        "history": state.history,
        "mlflow_run_id": state.run_id,
        **(extra or {}),
    }
    tracker.log_metrics({f"best_val_{k}": v for k, v in metrics.items() if isinstance(v, float)}, state.epoch)
    for path in _artifacts.write_training_plots(out, state.history, metrics):
        tracker.log_artifact(path)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tracker.log_artifact(out / "summary.json")
    np.save(out / "val_probs.npy", probs)
    return summary


def restore_checkpoint(path: Path, model, opt, sched, config: TrainConfig, ema=None):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt["config"] != config.model_dump(mode="json"):
        raise ValueError(f"{path} was trained with a different config; resume needs the same one")
    if ema is not None:
        ema.module.load_state_dict(ckpt["model"])
        ema.n_averaged.fill_(ckpt["ema_n_averaged"])
    model.load_state_dict(ckpt.get("train_model", ckpt["model"]))
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    np.random.set_state(ckpt["rng"]["numpy"])
    random.setstate(ckpt["rng"]["python"])
    state = TrainState(**ckpt["state"])
    state.resumed_from.append(state.epoch)
    # The batch-order generator restarts from a seed derived from the epoch, so a resumed run is
    # deterministic given where it stopped.
    return state, np.random.default_rng([config.seed, state.epoch])


def flat_params(config: TrainConfig, data: dict[str, Any]) -> dict[str, Any]:
    flat = pd.json_normalize(config.model_dump(mode="json"), sep=".").iloc[0].to_dict()
    flat.update(
        {
            "dataset.name": data["dataset"].name,
            "dataset.hash": data["dataset"].dataset_hash,
            "n_train": len(data["train"].labels),
            "n_val": len(data["val"].labels),
            "classes": ",".join(data["class_names"]),
        }
    )
    return {k: str(v)[:500] for k, v in flat.items()}
