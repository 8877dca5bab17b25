"""The simulated web history given to generated training images (probe.history_views)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.probe.run import give_history
from deeptrust.train.config import TrainConfig


def _config(**probe) -> TrainConfig:
    return TrainConfig.model_validate(
        {"name": "h", "data": {"source": "x"}, "input": {"size": 64}, "probe": {"history_views": 1, **probe}}
    )


def _picture(size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    texture = 40 * np.sin(x / 1.7) * np.cos(y / 2.3)  # fine detail a strong compression smooths away
    base = np.stack([x + texture, y - texture, (x + y) / 2 + texture], axis=-1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def _jpeg_error(pixels: np.ndarray, quality: int) -> float:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality, subsampling=0)
    return float(np.abs(np.asarray(Image.open(buf).convert("RGB"), float) - pixels).mean())


def test_the_same_seed_gives_the_same_history_and_another_seed_another():
    px, config = _picture(), _config()
    a = give_history(px, config, np.random.default_rng(1))
    b = give_history(px, config, np.random.default_rng(1))
    assert np.array_equal(a, b)
    others = [give_history(px, config, np.random.default_rng(s)) for s in range(2, 8)]
    assert any(o.shape != a.shape or not np.array_equal(o, a) for o in others)


def test_the_grid_is_shifted_and_no_patch_is_lost():
    px = _picture()
    config = _config(history_resize_p=1.0, history_scale=(0.3, 0.3), history_final=None)
    shapes = {give_history(px, config, np.random.default_rng(s)).shape for s in range(12)}
    # downscaled (256 × 0.3 = 77), then 0-7 pixels cropped off the top and left: never below a patch
    assert all(70 <= h <= 77 and 70 <= w <= 77 for h, w, _ in shapes)
    assert len(shapes) > 1


@pytest.mark.parametrize("final", [None, 90])
def test_the_image_carries_a_compression_it_did_not_have(final):
    px = _picture()
    config = _config(history_resize_p=0.0, history_jpeg=(30, 30), history_final=final)
    out = give_history(px, config, np.random.default_rng(3)).astype(float)
    h, w, _ = out.shape
    assert 249 <= h <= 256 and 249 <= w <= 256
    shifted = px[256 - h :, 256 - w :].astype(float)  # the crop took rows off the top and left only
    # what a q30 compression removes is gone: far more change than a q95 re-encoding makes
    assert np.abs(out - shifted).mean() > 2 * _jpeg_error(px, 95)
