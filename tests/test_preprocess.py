import numpy as np
import pytest
from PIL import Image

from deeptrust.card import Preprocessing
from deeptrust.preprocess import fixed_crop_boxes, image_to_crops, normalize


def test_native_crops_never_rescale_the_image():
    arr = np.random.default_rng(0).integers(0, 255, (100, 120, 3), dtype=np.uint8)
    crops = image_to_crops(Image.fromarray(arr), Preprocessing(input_size=32, crop="native", num_crops=5))
    assert crops.shape == (5, 32, 32, 3)
    assert np.array_equal(crops[1], arr[:32, :32])  # top-left corner, pixel for pixel
    assert np.array_equal(crops[0], arr[34:66, 44:76])  # centre


@pytest.mark.parametrize("n", [1, 5, 9])
def test_fixed_boxes_stay_inside_the_image(n):
    boxes = fixed_crop_boxes(50, 40, size=32, num_crops=n)
    assert len(boxes) == n
    for left, top, right, bottom in boxes:
        assert left >= 0 and top >= 0 and right <= 50 and bottom <= 40 and right - left == 32


def test_small_images_are_upscaled_to_fit_a_crop():
    crops = image_to_crops(Image.new("RGB", (10, 20)), Preprocessing(input_size=32, crop="native"))
    assert crops.shape == (1, 32, 32, 3)


def test_resize_policy_and_normalisation():
    pre = Preprocessing(input_size=8, crop="resize", mean=(0.5,) * 3, std=(0.5,) * 3)
    x = normalize(image_to_crops(Image.new("RGB", (16, 16), (255, 0, 128)), pre), pre)
    assert x.shape == (1, 3, 8, 8) and x.dtype == np.float32
    assert np.allclose(x[0, 0], 1.0) and np.allclose(x[0, 1], -1.0)


def test_bad_crop_count_is_refused():
    with pytest.raises(ValueError, match="1, 5 or 9"):
        fixed_crop_boxes(64, 64, size=32, num_crops=4)


def test_flip_adds_mirrored_copies_of_each_crop():
    arr = np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    pre = Preprocessing(input_size=32, crop="native", num_crops=5, flip=True)
    crops = image_to_crops(Image.fromarray(arr), pre)
    assert crops.shape == (10, 32, 32, 3)
    assert np.array_equal(crops[6], crops[1][:, ::-1])


def test_extreme_strips_are_cut_before_upscaling():
    """A 10000×1 upload must not become a 1 280 000×128 image (seconds and gigabytes per request)."""
    from deeptrust.preprocess import MAX_UPSCALED_ASPECT, ensure_min_side, upscale_plan

    box, size = upscale_plan(10_000, 1, 128)
    assert size == (128 * MAX_UPSCALED_ASPECT, 128) and box == (4996, 0, 5004, 1)
    assert ensure_min_side(Image.new("RGB", (10_000, 1)), 128).size == size
    assert upscale_plan(300, 200, 128) == ((0, 0, 300, 200), (300, 200))  # big enough: untouched
    pre = Preprocessing(input_size=128, crop="native", num_crops=5, flip=False, mean=(0, 0, 0), std=(1, 1, 1))
    assert image_to_crops(Image.new("RGB", (1, 10_000)), pre).shape == (5, 128, 128, 3)


@pytest.mark.parametrize(
    ("crop", "num_crops", "flip"), [("native", 5, False), ("native", 9, True), ("resize", 1, True)]
)
def test_array_and_image_inputs_give_the_same_crops(crop, num_crops, flip):
    pre = Preprocessing(
        input_size=16, crop=crop, num_crops=num_crops, flip=flip, mean=(0, 0, 0), std=(1, 1, 1)
    )
    for shape in ((40, 30, 3), (10, 50, 3)):  # big enough, and one that needs upscaling
        pixels = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
        assert np.array_equal(image_to_crops(pixels, pre), image_to_crops(Image.fromarray(pixels), pre))
