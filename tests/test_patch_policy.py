"""The grid patch policy (issue 13 item 4): whole-image coverage, a bounded count, any shape."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deeptrust.card import Preprocessing
from deeptrust.detector import aggregate
from deeptrust.preprocess import grid_boxes, image_to_crops

GRID = Preprocessing(input_size=128, crop="grid", max_patches=8)


def covered(width: int, height: int, boxes) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for left, top, right, bottom in boxes:
        mask[top:bottom, left:right] = True
    return mask


@pytest.mark.parametrize("size", [(128, 128), (256, 256), (300, 129), (384, 256), (129, 700)])
def test_small_images_are_tiled_completely(size):
    width, height = size
    boxes = grid_boxes(width, height, size=128, max_patches=8)
    margin = 128 // 16  # a tiling may leave a strip this thin at a border instead of adding a row
    assert covered(width, height, boxes)[margin : height - margin, margin : width - margin].all()
    assert len(boxes) == len(set(boxes)) <= 8
    for left, top, right, bottom in boxes:
        assert left >= 0 and top >= 0 and right <= width and bottom <= height
        assert right - left == 128 == bottom - top


@pytest.mark.parametrize("size", [(4000, 3000), (7071, 7071), (12000, 1000), (1000, 12000)])
def test_huge_images_cost_a_bounded_count_spread_edge_to_edge(size):
    width, height = size
    boxes = grid_boxes(width, height, size=128, max_patches=8)
    assert 1 <= len(boxes) <= 8
    for lo, hi, side in ((0, 2, width), (1, 3, height)):
        starts = {b[lo] for b in boxes}
        if len(starts) > 1:  # several rows (columns): the first and the last touch the borders
            assert min(starts) == 0 and max(b[hi] for b in boxes) == side
        else:  # one row (column): centred
            assert abs(min(starts) + 64 - side / 2) <= 1


def test_a_long_strip_gets_its_patches_along_its_length():
    boxes = grid_boxes(12000, 1000, size=128, max_patches=8)
    assert len({b[0] for b in boxes}) > len({b[1] for b in boxes})


def test_crops_are_native_pixels_and_tiny_images_are_upscaled():
    arr = np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    crops = image_to_crops(arr, GRID)
    boxes = grid_boxes(500, 300, size=128, max_patches=8)
    assert crops.shape == (len(boxes), 128, 128, 3)
    left, top, right, bottom = boxes[-1]
    assert np.array_equal(crops[-1], arr[top:bottom, left:right])
    tiny = image_to_crops(Image.new("RGB", (64, 40)), GRID)
    assert tiny.shape[1:] == (128, 128, 3) and len(tiny) == 2  # upscaled to 205×128: two patches


def test_grid_boxes_refuse_a_zero_budget_and_an_image_below_a_patch():
    with pytest.raises(ValueError, match="max_patches"):
        grid_boxes(500, 500, size=128, max_patches=0)
    with pytest.raises(ValueError, match="smaller than"):
        grid_boxes(100, 500, size=128, max_patches=4)


def test_aggregation_rules():
    # FAKE, REAL per patch: one confident generated patch among three real-looking ones
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.2, 0.8]])
    mean = aggregate(probs, "mean", 2, real_index=1)
    assert np.allclose(mean, [0.35, 0.65])
    top = aggregate(probs, "top_k", 1, real_index=1)
    assert np.allclose(top, [0.9, 0.1])  # the most generated-looking patch alone
    geo = aggregate(probs, "geomean", 2, real_index=1)
    assert np.isclose(geo.sum(), 1.0) and geo[0] < mean[0]  # a geometric mean discounts one outlier
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(probs, "median", 2, real_index=1)
