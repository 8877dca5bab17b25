"""A real tiny ONNX model and a small labelled image set, shared by the evaluation tests.

The model is not trained: its weights are set by hand so that it measures high-frequency energy
(a Laplacian), which tells the noisy "REAL" images from the smooth "FAKE" ones — mostly, with a few
deliberate mistakes so that error lists are not empty.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deeptrust.card import ONNX_FILE, ModelCard, Preprocessing, load_card, save_card
from deeptrust.detector import Detector

torch = pytest.importorskip("torch")

N_PER_CLASS = 20


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def _hand_set_weights(net: TinyNet) -> None:
    laplacian = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]) / 3.0
    with torch.no_grad():
        net.conv.weight.zero_()
        net.conv.bias.zero_()
        for out in range(4):
            sign = 1.0 if out % 2 == 0 else -1.0  # both signs of the response, so ReLU keeps energy
            net.conv.weight[out] = sign * laplacian
        net.head.weight.zero_()
        net.head.weight[1] = 6.0  # REAL logit grows with high-frequency energy
        net.head.bias.copy_(torch.tensor([0.0, -0.9]))


def build_tiny_model(directory: Path, *, threshold: float = 0.5) -> Path:
    torch.manual_seed(0)
    net = TinyNet().eval()
    _hand_set_weights(net)
    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but simplest here
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            torch.zeros(1, 3, 16, 16),
            str(directory / ONNX_FILE),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    card = ModelCard(
        name="tiny",
        version="0",
        family="test",
        class_names=("FAKE", "REAL"),
        preprocessing=Preprocessing(input_size=16, crop="resize", mean=(0.5,) * 3, std=(0.5,) * 3),
        threshold=threshold,
    )
    save_card(card, directory)
    return directory


def make_images(directory: Path, *, n_per_class: int = N_PER_CLASS, seed: int = 0) -> pd.DataFrame:
    """Noisy REAL and smooth FAKE 32×32 PNGs, with sources, splits and a few leaks; the manifest."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for label in ("REAL", "FAKE"):
        for i in range(n_per_class):
            base = rng.uniform(60, 200, size=3)
            # A few images of each class sit on the wrong side, so there are errors to list.
            noisy = (label == "REAL") != (i % 10 == 9)
            noise = rng.normal(0, 40 if noisy else 2, size=(32, 32, 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            path = directory / f"{label.lower()}_{i:02d}.png"
            Image.fromarray(pixels).save(path)
            rows.append(
                {
                    "path": str(path),
                    "label": label,
                    "split": "val" if i >= n_per_class - 4 else "test",
                    "source": "camera" if label == "REAL" else ("gen_a" if i % 2 else "gen_b"),
                    "leak": i % 5 == 0,
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def image_manifest(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return make_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def detector(tiny_model_dir: Path) -> Detector:
    return Detector(tiny_model_dir / ONNX_FILE, load_card(tiny_model_dir), threads=1)
