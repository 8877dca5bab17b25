"""Training configuration: defaults here, small YAML files in configs/ say only what differs."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from deeptrust.card import IMAGENET_MEAN, IMAGENET_STD


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    family: str = "efficientnet_lite0"  # a name from deeptrust.train.registry.list_models()
    pretrained: bool = True
    dropout: float | None = None  # None keeps the family's default
    # Tapped-feature families (efficientnet_lite0_taps): which layers, and their squares too.
    taps: tuple[str, ...] = ()
    squares: bool = True
    # What the frozen backbone sees: the image ("rgb") and/or its NPR residual ("npr", x − up(down(x)));
    # each input is one more backbone pass and one more block of features.
    inputs: tuple[Literal["rgb", "npr"], ...] = ("rgb",)


class DataSourceConfig(_Strict):
    """One of several datasets combined into one training set (``data.sources``)."""

    source: str  # folder, .tar.gz, CSV or an imported dataset name
    name: str | None = None  # its dataset name under <home>/datasets (None: derived from the path)
    val_fraction: float | None = Field(None, gt=0, lt=1)  # None: 0.15 if the source has no split, else 0.1
    test_fraction: float | None = Field(None, ge=0, lt=1)  # None: 0.2 if the source has no split, else 0
    split_seed: int = 0


class DataConfig(_Strict):
    source: str | None = None  # folder, .tar.gz, CSV or an imported dataset name; or `sources`:
    # several datasets, each split as its own import, combined and de-duplicated across them
    # (deeptrust.data.combine: a copy in two datasets is kept once, test > val > train)
    sources: tuple[DataSourceConfig, ...] = ()
    val_fraction: float = Field(0.1, gt=0, lt=1)  # carved from train when the source has no val split
    test_fraction: float = Field(0.0, ge=0, lt=1)  # carved from train first when the source has no test
    split_seed: int = 0
    limit_per_split: int | None = None  # seeded subsample per split, for smoke runs
    real_class: str = "REAL"

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.source is None) == (not self.sources):
            raise ValueError(
                "data needs exactly one of `source` (a dataset) or `sources` (datasets to combine)"
            )
        return self


class InputConfig(_Strict):
    size: int = Field(224, ge=8)  # crop side fed to the network, pixels
    crop: Literal["resize", "native", "grid"] = "native"
    num_crops: int = 5  # fixed crops averaged at evaluation/inference: 1, 5 or 9
    max_patches: int = Field(8, ge=1)  # grid: at most this many native patches over the whole image
    aggregate: Literal["mean", "geomean", "top_k"] = "mean"  # patch probabilities → the image's
    top_k: int = Field(2, ge=1)
    flip: bool = False  # also score each crop mirrored (test-time augmentation)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


class AugmentConfig(_Strict):
    hflip: float = 0.5  # probability
    rot90: float = 0.0  # probability of a random quarter turn (90, 180 or 270 degrees) or vertical flip
    resize_p: float = 0.1  # probability of a downscale before cropping (uploads get resized)
    resize_scale: tuple[float, float] = (0.5, 0.9)  # factor range
    blur_p: float = 0.05
    blur_radius: tuple[float, float] = (0.3, 1.2)  # Gaussian radius, pixels
    jpeg_p: float = 0.3  # probability of a JPEG re-compression
    jpeg_quality: tuple[int, int] = (60, 95)
    translate: int = Field(0, ge=0)  # whole-image inputs: shift by up to this many pixels (reflect padding)
    translate_p: float = 0.0  # probability of that shift
    erase: int = Field(0, ge=0)  # cutout: side of a square blanked to mid-grey at a random place (0: off)
    erase_p: float = 0.0  # probability of that blanking (a regulariser, not an upload effect)


@functools.cache
def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU has bfloat16 instructions (the ``avx512_bf16`` or ``amx_bf16`` flag)."""
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


class OptimConfig(_Strict):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"  # sgd: Nesterov momentum with L2 weight decay
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only
    lr: float = 1e-3  # peak learning rate, after warm-up
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    patience: int = 5  # epochs without a better validation score before stopping
    samples_per_epoch: int | None = None  # draw this many random crops per epoch (None: one per image)
    # Draw training images with weight (images of the same label and source)^-balance, with replacement:
    # 0 draws each image once an epoch; 1 draws every (label, source) group equally often; in between
    # (0.5: square-root balancing), large sources count less than their size, small ones more.
    balance: float = Field(0.0, ge=0, le=1)
    max_minutes: float | None = None  # stop after this wall time, keeping the best checkpoint
    ema: float | None = Field(None, gt=0, lt=1)  # decay of an exponential moving average of the weights,
    # which is then what validation, the best checkpoint and export use (None: the raw weights)
    # bfloat16 autocast on CPU. None: on where the CPU computes bfloat16 natively (AVX512_BF16 or AMX),
    # off elsewhere — emulated, a Lite0 training step was 5-7x slower than fp32 on an AVX2 EPYC.
    bf16: bool | None = None
    threads: int | None = None  # torch threads; None: all cores

    @property
    def autocast_bf16(self) -> bool:
        """Whether training and validation run under bfloat16 autocast on this machine."""
        return native_bf16() if self.bf16 is None else self.bf16


class ProbeConfig(_Strict):
    """Tapped-feature families: the ridge probe fitted on cached features (deeptrust.probe)."""

    alpha: float = Field(0.1, gt=0)  # ridge penalty on standardised features
    aug_views: int = Field(1, ge=0)  # augmented copies of each training image (resize/JPEG), besides it
    by: Literal["source", "generator"] = "source"  # the groups each weighing the same in the fit
    min_group: int = Field(20, ge=1)  # generator groups smaller than this stay with their source
    # How the threshold meets target_fpr on validation: "pooled" over all real images, or "source":
    # on every real source with at least min_source validation images too (the strictest threshold),
    # so no one photo collection carries the false positives.
    threshold_by: Literal["pooled", "source"] = "pooled"
    min_source: int = Field(30, ge=1)
    # Copies of each *generated* training image given a simulated web history — maybe downscaled, JPEG
    # at a shifted 8×8 grid, then re-encoded as the data was (history_final) — so that a prior
    # compression, which most real photos carry and most generated PNGs lack, is no tell. Reals stay.
    history_views: int = Field(0, ge=0)
    history_resize_p: float = Field(0.5, ge=0, le=1)
    history_scale: tuple[float, float] = (0.5, 1.0)  # downscale factor range
    history_jpeg: tuple[int, int] = (60, 95)  # quality of the earlier compression
    history_final: int | None = 90  # quality of the last re-encoding (multigen's q90); None: none


class TrainConfig(_Strict):
    name: str
    seed: int = 0
    model: ModelConfig = ModelConfig()
    data: DataConfig
    input: InputConfig = InputConfig()
    augment: AugmentConfig = AugmentConfig()
    optim: OptimConfig = OptimConfig()
    probe: ProbeConfig = ProbeConfig()
    target_fpr: float = Field(0.05, gt=0, lt=1)  # decision threshold chosen on validation for this FPR
    out_dir: Path | None = None  # default: <home>/runs/<name>


def load_config(path: str | Path, **overrides: object) -> TrainConfig:
    """Read a YAML config; ``overrides`` are dotted keys (``optim.epochs=1``) applied on top."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no config file at {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return TrainConfig.model_validate(raw)
