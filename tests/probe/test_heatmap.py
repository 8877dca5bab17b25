"""The explain heatmap of a grid model covers the whole image (issue 13 item 4), and its verdict is
the one /v1/predict gives."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.serve.cam import image_activation
from deeptrust.serve.runtime import EXPLAIN_MAX_PATCHES, ModelRuntime, explain_preprocessing
from tests.serve.conftest import make_settings


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def runtime(grid_model_dir) -> ModelRuntime:
    return ModelRuntime(str(grid_model_dir), make_settings())


@pytest.mark.parametrize("size", [(200, 150), (64, 64), (1500, 300), (3000, 2000)])
def test_the_heatmap_covers_the_whole_image(runtime, size):
    item = runtime.decode(jpeg(*size), keep_image=True)
    d = runtime.detector
    pre = explain_preprocessing(runtime.card.preprocessing)
    crops = d.preprocess_with(item.image, pre)
    assert len(crops) <= EXPLAIN_MAX_PATCHES
    _, features = d.session.run(["logits", "features"], {d._input: crops})
    cams = np.einsum("k,nkhw->nhw", runtime.head.weight[0] - runtime.head.weight[1], features)
    heat = image_activation(cams, item.image.size, pre)
    assert heat.shape == (size[1], size[0])
    assert np.isfinite(heat).all()  # no pixel without evidence, even where the sampled grid has gaps
    assert heat.std() > 0


def test_explain_gives_the_predict_verdict_and_a_full_size_overlay(runtime):
    item = runtime.decode(jpeg(900, 700), keep_image=True)
    assert len(item.crops) == 4  # the verdict's patches: the card's max_patches
    probs, heatmap, overlay = runtime.explain(item)
    np.testing.assert_allclose(probs, runtime.predict([item])[0], rtol=1e-6)
    over = Image.open(io.BytesIO(overlay))
    heat = Image.open(io.BytesIO(heatmap))
    assert over.size == (900, 700) == heat.size
    alpha = np.asarray(heat)[..., 3]
    # evidence is drawn everywhere: no band of the image is left transparent for want of a patch
    assert (alpha.reshape(7, 100, 9, 100).max(axis=(1, 3)) > 0).all()
