"""Training throughput of a config's recipe on this machine, and the wall clock it implies.

    .venv/bin/python benchmarks/train_step.py --config configs/cifake.yaml --train 88832 --val 9870
    .venv/bin/python benchmarks/train_step.py --family efficientnet_lite0 --set input.size=64 --precision bf16

Runs the training loop's own epoch function (augmentation, bf16 autocast, AdamW, cosine schedule, EMA
when the config has one) and its validation scoring on synthetic images of the config's input size, so
no dataset is read; reports images/s per family with and without bf16 and projects one epoch and the
whole run (``optim.epochs`` epochs of ``--train`` images plus ``--val`` validation images each). The
CPU's type decides much of this: a recipe that fits 60 min on one 2-core VM may not on another.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deeptrust.train.cli import parse_overrides
from deeptrust.train.config import load_config
from deeptrust.train.data import SplitPixels, fixed_crops, to_tensor
from deeptrust.train.loop import predict_probs, preprocessing_of, train_one_epoch, training_setup


def synthetic_split(n: int, size: int, seed: int) -> SplitPixels:
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return SplitPixels(images, rng.integers(0, 2, n).astype(np.int64), pd.DataFrame(index=range(n)))


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def measure(config, images: int, rounds: int) -> tuple[float, float]:
    """Best training and validation images/s over ``rounds`` (the first round warms oneDNN up)."""
    split = synthetic_split(images, config.input.size, config.seed)
    steps = math.ceil(images / config.optim.batch_size)
    model, opt, sched, ema = training_setup(config, 2, steps)
    rng = np.random.default_rng(config.seed)
    crops, owner = fixed_crops(split, preprocessing_of(config))
    val_x = to_tensor(crops, config.input)
    train_rates, val_rates = [], []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        train_one_epoch(model, opt, sched, split, config, rng, show=False, ema=ema)
        train_rates.append(images / (time.perf_counter() - started))
        started = time.perf_counter()
        predict_probs(model.eval(), val_x, owner, bf16=config.optim.autocast_bf16)
        val_rates.append(images / (time.perf_counter() - started))
    return max(train_rates[1:]), max(val_rates[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=Path("configs/cifake.yaml"))
    ap.add_argument("--family", default="", help="comma-separated families (default: the config's)")
    ap.add_argument("--train", type=int, default=88832, help="training images per epoch to project")
    ap.add_argument("--val", type=int, default=9870, help="validation images scored per epoch")
    ap.add_argument("--images", type=int, default=2048, help="synthetic images per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", default="bf16,fp32", help="bf16, fp32 or both")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args()
    # as `deeptrust train --set`; speed does not depend on the starting weights, so none are loaded
    overrides = {**parse_overrides(args.set), "model.pretrained": False}
    base = load_config(args.config, **overrides)
    families = [f for f in args.family.split(",") if f] or [base.model.family]
    torch.set_num_threads(base.optim.threads or torch.get_num_threads())
    print(
        f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; {args.config}",
        *args.set,
    )
    print(f"projection: {base.optim.epochs} epochs × ({args.train} train + {args.val} val images)\n")
    print("| family | precision | train images/s | val images/s | min/epoch | projected run, min |")
    print("|---|---|---:|---:|---:|---:|")
    for family in families:
        for precision in args.precision.split(","):
            bf16 = precision == "bf16"
            config = load_config(args.config, **{**overrides, "model.family": family, "optim.bf16": bf16})
            train_rate, val_rate = measure(config, args.images, args.rounds)
            epoch = (args.train / train_rate + args.val / val_rate) / 60
            print(
                f"| {family} | {'bf16' if bf16 else 'fp32'} | {train_rate:.0f} | {val_rate:.0f} "
                f"| {epoch:.2f} | {epoch * config.optim.epochs:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
