import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.card import Preprocessing
from deeptrust.detector import Detector
from deeptrust.serve.cam import class_activation, image_activation, load_head, render_heatmap


@pytest.mark.parametrize("name", ["cifake", "photos"])
def test_head_from_onnx_reproduces_the_logits(name):
    """CAM is valid only if logits = W · GAP(features) + b: check it on the shipped INT8 graphs."""
    detector = Detector.load(name)
    head = load_head(detector.path)
    size = detector.card.preprocessing.input_size
    rng = np.random.default_rng(0)  # in-range pixels: the INT8 graph clips activations far outside them
    images = [
        Image.fromarray(rng.integers(0, 255, (size * 2, size * 2, 3), dtype=np.uint8)) for _ in range(3)
    ]
    x = np.concatenate([detector.preprocess(im) for im in images])
    logits, features = detector.session.run(["logits", "features"], {detector._input: x})
    rebuilt = features.mean(axis=(2, 3)) @ head.weight.T + head.bias
    assert head.weight.shape == (len(detector.card.class_names), features.shape[1])
    # The INT8 graph clips its logits at their calibrated range; the linear relation holds below it.
    inside = (logits < logits.max() - 1e-4) & (logits > logits.min() + 1e-4)
    assert inside.sum() >= logits.size // 2
    tolerance = 0.05 * np.abs(logits).max() + 0.02  # the INT8 logits' rounding (a step of ~0.05 in photos)
    assert np.abs(rebuilt - logits)[inside].max() < tolerance
    # at the extremes the graph may clip: the rebuilt logit is then larger, never smaller beyond rounding
    assert (np.abs(rebuilt) >= np.abs(logits) - tolerance)[~inside].all()


def test_cam_averages_to_the_logit_difference():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 6, 4, 4)).astype(np.float32)

    class H:
        weight = rng.normal(size=(2, 6)).astype(np.float32)
        bias = np.zeros(2, np.float32)

    cam = class_activation(features, H, target=0, reference=1)
    logits = features.mean(axis=(2, 3)) @ H.weight.T
    assert np.allclose(cam.mean(axis=(1, 2)), logits[:, 0] - logits[:, 1], atol=1e-5)


def test_native_crops_land_where_they_were_cut():
    pre = Preprocessing(input_size=8, crop="native", num_crops=5, flip=False, mean=(0, 0, 0), std=(1, 1, 1))
    cams = np.zeros((5, 2, 2), np.float32)
    cams[1] = 1.0  # top-left corner crop only
    heat = image_activation(cams, (32, 24), pre)
    assert heat.shape == (24, 32)
    assert heat[0:8, 0:8].min() > 0.9 and np.nanmax(heat[16:, 24:]) == 0.0
    assert np.isnan(heat[12, 4])  # between crops: nothing looked there


def test_flipped_crops_are_mirrored_back():
    pre = Preprocessing(input_size=4, crop="resize", num_crops=1, flip=True, mean=(0, 0, 0), std=(1, 1, 1))
    cams = np.zeros((2, 2, 2), np.float32)
    cams[0, :, 0] = 1.0  # left column in the original crop
    cams[1, :, 1] = 1.0  # the same left column, seen mirrored
    heat = image_activation(cams, (4, 4), pre)
    assert heat[:, 0].mean() > heat[:, 3].mean()


def test_render_makes_image_sized_pngs_and_caps_large_ones():
    img = Image.new("RGB", (3000, 1500), (90, 90, 90))
    heat = np.tile(np.linspace(-1, 1, 3000, dtype=np.float32), (1500, 1))  # real on the left, AI on the right
    heatmap, overlay = render_heatmap(img, heat)
    h, o = Image.open(io.BytesIO(heatmap)), Image.open(io.BytesIO(overlay))
    assert h.mode == "RGBA" and h.size == o.size == (1024, 512)
    px = np.asarray(h)
    assert px[256, 1020, 0] > 200 and px[256, 3, 2] > 200  # AI evidence red, real evidence blue
