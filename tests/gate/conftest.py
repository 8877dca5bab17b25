"""A tiny gate world: a hand-set ONNX model (good), the same model with a bad threshold (worse), a
CSV of 40 labelled images from three sources, and a suite over its test split (hash frozen)."""

from __future__ import annotations

import pytest
import yaml

from tests.evaluate.conftest import build_tiny_model, make_images
from tests.registry.conftest import empty_store, store  # noqa: F401 (fixtures)


@pytest.fixture
def world(store, tmp_path):  # noqa: F811
    images = make_images(tmp_path / "images")
    csv = tmp_path / "suite-data.csv"
    images[["path", "label", "split", "source"]].to_csv(csv, index=False)
    suite = tmp_path / "tiny-suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "version": 1,
                "data": [{"dataset": str(csv), "split": "test"}],
                "robustness": {"enabled": True, "limit": 16},
                "tolerances": {"min_slice_n": 5},
            }
        )
    )
    good = build_tiny_model(tmp_path / "good")
    worse = build_tiny_model(tmp_path / "worse", threshold=0.97)  # calls almost everything fake
    return {"store": store, "suite": suite, "good": good, "worse": worse, "tmp": tmp_path}
