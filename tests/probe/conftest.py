"""A small grid model (tapped Lite0, two early taps, random head) exported as a model directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deeptrust.card import ONNX_FILE, ModelCard, Preprocessing, save_card
from deeptrust.export.onnx import embed_card, export_onnx
from deeptrust.train.registry import create_model


@pytest.fixture(scope="session")
def grid_model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grid-model")
    model = create_model("efficientnet_lite0_taps", num_classes=2, taps=("stem", "b0", "b2"))
    with torch.no_grad():
        weight = torch.from_numpy(np.random.default_rng(0).normal(0, 0.05, model.head.weight.shape))
        model.head.weight.copy_(weight.float())
    export_onnx(model.eval(), out / ONNX_FILE, input_size=64)
    card = ModelCard(
        name="grid-test",
        version="0.0.1",
        family="efficientnet_lite0_taps",
        class_names=("FAKE", "REAL"),
        preprocessing=Preprocessing(input_size=64, crop="grid", max_patches=4, aggregate="mean"),
        has_features=True,
    )
    embed_card(out / ONNX_FILE, card)
    save_card(card, out)
    return out
