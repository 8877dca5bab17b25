from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deeptrust.evaluate.robustness import PERTURBATIONS, centre_crop


@pytest.fixture
def noisy() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8))


def test_the_perturbations() -> None:
    assert list(PERTURBATIONS) == [
        "jpeg90", "jpeg70", "jpeg50", "downscale0.5", "upscale1.5", "centre_crop", "png", "rotate3",
    ]  # fmt: skip


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_each_returns_rgb_and_is_deterministic(name: str, noisy: Image.Image) -> None:
    first, second = PERTURBATIONS[name](noisy), PERTURBATIONS[name](noisy)
    assert first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_jpeg_loses_more_at_lower_quality(noisy: Image.Image) -> None:
    original = np.asarray(noisy, dtype=np.float64)
    errors = [
        np.abs(np.asarray(PERTURBATIONS[f"jpeg{q}"](noisy), dtype=np.float64) - original).mean()
        for q in (90, 70, 50)
    ]
    assert 0 < errors[0] < errors[1] < errors[2]
    assert PERTURBATIONS["jpeg90"](noisy).size == noisy.size


def test_sizes(noisy: Image.Image) -> None:
    assert PERTURBATIONS["downscale0.5"](noisy).size == (40, 30)
    # Central half of the area: each side × 1/√2.
    assert PERTURBATIONS["centre_crop"](noisy).size == (57, 42)
    assert PERTURBATIONS["downscale0.5"](Image.new("RGB", (1, 1))).size == (1, 1)


def test_centre_crop_is_central() -> None:
    arr = np.zeros((100, 100, 3), np.uint8)
    arr[40:60, 40:60] = 255
    cropped = np.asarray(centre_crop(Image.fromarray(arr)))
    assert cropped.shape[:2] == (71, 71)
    assert cropped[35, 35].tolist() == [255, 255, 255]
    assert cropped[0, 0].tolist() == [0, 0, 0] and cropped[-1, -1].tolist() == [0, 0, 0]


def test_jpeg_accepts_non_rgb_input() -> None:
    grey = Image.new("L", (16, 16), 128)
    assert PERTURBATIONS["jpeg70"](grey).mode == "RGB"


def test_png_resave_keeps_every_pixel_and_rotation_leaves_no_blank_corner(noisy: Image.Image) -> None:
    assert np.array_equal(np.asarray(PERTURBATIONS["png"](noisy)), np.asarray(noisy))
    assert PERTURBATIONS["upscale1.5"](noisy).size == (120, 90)
    flat = Image.new("RGB", (200, 150), (200, 180, 160))
    turned = np.asarray(PERTURBATIONS["rotate3"](flat), dtype=np.int16)
    assert turned.shape[0] < 150 and turned.shape[1] < 200
    # no black fill survives in the kept box (the edge pixels are interpolated, not blank)
    assert turned.min() > 100
