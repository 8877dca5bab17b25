"""The tapped backbone's inputs: the image and its NPR residual (model.inputs)."""

from __future__ import annotations

import pytest
import torch

from deeptrust.probe.features import feature_columns, npr
from deeptrust.train.registry import create_model

TAPS = ("stem", "b0", "b2")


def test_npr_is_zero_on_a_nearest_upsampled_image_and_not_on_a_natural_one():
    small = torch.rand(1, 3, 16, 16)
    upsampled = torch.nn.functional.interpolate(small, scale_factor=2.0, mode="nearest")
    assert torch.count_nonzero(npr(upsampled)) == 0  # what upsampling leaves is what NPR sees
    assert npr(torch.rand(1, 3, 32, 32)).abs().mean() > 0.1


def test_the_rgb_block_of_a_two_input_model_is_the_rgb_model():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    rgb = create_model("efficientnet_lite0_taps", num_classes=2, taps=TAPS).eval()
    both = create_model("efficientnet_lite0_taps", num_classes=2, taps=TAPS, inputs=("rgb", "npr")).eval()
    with torch.no_grad():
        f_rgb, f_both = rgb.features(x), both.features(x)
        f_npr = rgb.features._tapped(npr(x))
    width = f_rgb.shape[1]
    assert f_both.shape[1] == 2 * width == len(feature_columns(TAPS, inputs=("rgb", "npr")))
    assert torch.allclose(f_both[:, :width], f_rgb, atol=1e-5)
    assert torch.allclose(f_both[:, width:], f_npr, atol=1e-5)
    assert both.head.in_features == 2 * width


def test_unknown_inputs_are_refused():
    with pytest.raises(ValueError, match="inputs must be some of rgb, npr"):
        create_model("efficientnet_lite0_taps", num_classes=2, taps=TAPS, inputs=("hsv",))
