"""Monitor fixtures: a copy of the tiny shipped ``cifake`` model whose card carries a reference profile
built from generated 32×32 JPEGs, and a second folder of 48×48 PNGs that drifts from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeptrust.card import load_card, save_card
from deeptrust.detector import Detector
from deeptrust.monitor.collect import collect
from deeptrust.monitor.profile import build_profile
from deeptrust.settings import BUNDLED_MODELS
from tests.conftest import make_image_folder


def image_paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.suffix in (".jpg", ".png"))


@pytest.fixture(scope="session")
def reference_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("ref") / "ref", per_class=60, size=32, seed=0)


@pytest.fixture(scope="session")
def same_folder(tmp_path_factory) -> Path:
    """More images like the reference (another seed): unchanged traffic."""
    return make_image_folder(tmp_path_factory.mktemp("same") / "same", per_class=60, size=32, seed=7)


@pytest.fixture(scope="session")
def drifted_folder(tmp_path_factory) -> Path:
    """48×48 PNGs of flat colour: other sizes, another format, other pixels."""
    root = tmp_path_factory.mktemp("drift") / "drift"
    rng = np.random.default_rng(3)
    for label in ("REAL", "FAKE"):
        (root / label).mkdir(parents=True)
        for i in range(60):
            pixels = np.full((48, 48, 3), rng.integers(0, 255, 3), np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def profiled_model(tmp_path_factory, reference_folder) -> Path:
    """models/cifake copied, its card given a profile of ``reference_folder``."""
    out = tmp_path_factory.mktemp("models") / "cifake-profiled"
    shutil.copytree(BUNDLED_MODELS / "cifake", out)
    detector = Detector.load(out)
    c = collect(detector, image_paths(reference_folder))
    profile = build_profile(
        c.p_ai, c.properties, c.embeddings, data={"parts": [{"name": "ref", "n": len(c.paths)}]}
    )
    save_card(load_card(out).replace(drift_profile=profile), out)
    return out
