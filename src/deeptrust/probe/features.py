"""A frozen EfficientNet-Lite whose output is every tapped layer, pooled to the last layer's grid.

The output is a feature *map* (N, C, g, g) — for each tap its activations and their squares, average-
pooled to the final g × g grid and concatenated — so :class:`~deeptrust.train.registry.Classifier`'s
global average pool + linear head still applies, and so does CAM: the mean of the pooled map is the
mean (or the mean square) of each tapped layer, which is what the probe reads. Early taps carry the
low-level statistics where generation traces live; the last carries content.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Lite0's blocks: 0 (16 ch, /2), 2 (24, /4), 4 (40, /8), 7 (80, /16), 10 (112, /16), 14 (192, /32),
# 15 (320, /32); "stem" is the first convolution (32, /2) and "head" the 1×1 convolution (1280, /32).
ALL_TAPS = ("stem", "b0", "b2", "b4", "b7", "b10", "b14", "b15", "head")


INPUTS = ("rgb", "npr")
NPR_GAIN = 3.0  # brings the residual of a normalised image (std ~0.35) to about the image's own spread


def npr(x: torch.Tensor) -> torch.Tensor:
    """Neighbouring-pixel relationships (Tan et al., CVPR 2024): ``x − up(down(x))``, nearest both
    ways — each pixel minus the top-left pixel of its 2 × 2 block, the trace upsampling layers leave."""
    up = F.interpolate(x[..., ::2, ::2], scale_factor=2.0, mode="nearest")
    return NPR_GAIN * (x - up[..., : x.shape[-2], : x.shape[-1]])


class LiteTaps(nn.Module):
    def __init__(
        self,
        net: nn.Module,
        taps: tuple[str, ...] = ALL_TAPS,
        *,
        squares: bool = True,
        inputs: tuple[str, ...] = ("rgb",),
    ):
        super().__init__()
        unknown = sorted(set(taps) - set(ALL_TAPS))
        if unknown:
            raise ValueError(f"unknown taps {unknown}; choose from {', '.join(ALL_TAPS)}")
        if not inputs or set(inputs) - set(INPUTS):
            raise ValueError(f"inputs must be some of {', '.join(INPUTS)}, got {inputs}")
        self.net = net
        self.taps = tuple(t for t in ALL_TAPS if t in taps)  # always in network order
        self.squares = squares
        self.inputs = tuple(i for i in INPUTS if i in inputs)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._tapped(x if name == "rgb" else npr(x)) for name in self.inputs], dim=1)

    def _tapped(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        outs = [x] if "stem" in self.taps else []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if f"b{i}" in self.taps:
                outs.append(x)
        if "head" in self.taps:
            outs.append(net._swish(net._bn1(net._conv_head(x))))
        grid = outs[-1].shape[-1]
        maps = [_pool_to(o, grid) for o in outs]
        if self.squares:
            maps += [_pool_to(o * o, grid) for o in outs]
        return torch.cat(maps, dim=1)

    def train(self, mode: bool = True) -> LiteTaps:
        super().train(mode)
        self.net.eval()  # frozen: batch-norm statistics stay ImageNet's
        return self


def _pool_to(x: torch.Tensor, grid: int) -> torch.Tensor:
    k = x.shape[-1] // grid
    return x if k == 1 else F.avg_pool2d(x, kernel_size=k, stride=k)


def tap_channels(taps: tuple[str, ...], *, squares: bool = True) -> dict[str, int]:
    """Channels per tap of Lite0 (the order of the output's channel blocks, before squares)."""
    widths = {"stem": 32, "b0": 16, "b2": 24, "b4": 40, "b7": 80, "b10": 112, "b14": 192, "b15": 320}
    widths["head"] = 1280
    return {t: widths[t] for t in ALL_TAPS if t in taps}


def feature_columns(
    taps: tuple[str, ...], *, squares: bool = True, inputs: tuple[str, ...] = ("rgb",)
) -> list[str]:
    """A name for each output channel: ``b4.mean.17``, ``b4.sq.17``; of the NPR input ``npr:b4.mean.17``."""
    chans = tap_channels(taps)
    cols = []
    for name in (i for i in INPUTS if i in inputs):
        prefix = "" if name == "rgb" else f"{name}:"
        cols += [f"{prefix}{t}.mean.{i}" for t, n in chans.items() for i in range(n)]
        if squares:
            cols += [f"{prefix}{t}.sq.{i}" for t, n in chans.items() for i in range(n)]
    return cols
