"""Shared fixtures: small generated image datasets in ImageFolder layout and an isolated deeptrust home."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import deeptrust.settings

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def isolated_session_home(tmp_path_factory):
    """Session-scoped fixtures (a shared detector, a trained model) run before any test's own home: they
    get one of their own, so a developer's ``.deeptrust`` (its registry, its caches) never reaches them."""
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPTRUST_HOME", str(home))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        deeptrust.settings.get_settings.cache_clear()
        yield home
    deeptrust.settings.get_settings.cache_clear()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own DEEPTRUST_HOME so nothing leaks between tests or into the repo."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DEEPTRUST_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    deeptrust.settings.get_settings.cache_clear()
    yield home
    deeptrust.settings.get_settings.cache_clear()


def synthetic_image(label: str, rng: np.random.Generator, size: int) -> Image.Image:
    """REAL: sensor-like per-pixel noise; AI: smooth blobs; DEEPFAKE: blocky. Easy to learn, cheap."""
    base = rng.integers(60, 200, size=3)
    if label == "REAL":
        pixels = base + rng.normal(0, 40, size=(size, size, 3))
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if label == "DEEPFAKE":
        blocks = rng.integers(0, 255, size=(size // 8, size // 8, 3)).astype(np.uint8)
        return Image.fromarray(blocks).resize((size, size), Image.NEAREST)
    pixels = base + rng.normal(0, 40, size=(size, size, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(3))


def make_image_folder(
    root: Path,
    *,
    labels=("REAL", "FAKE"),
    per_class: int = 24,
    size: int = 32,
    splits: tuple[str, ...] = (),
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    for split in splits or ("",):
        for label in labels:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                synthetic_image(label, rng, size).save(folder / f"{label.lower()}_{i:03d}.jpg", quality=92)
    return root


@pytest.fixture
def binary_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "binary", per_class=24, size=32)


@pytest.fixture
def three_class_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "three", labels=("REAL", "AI", "DEEPFAKE"), per_class=16, size=32)
