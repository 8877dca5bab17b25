"""Shared fixtures for the data tests: an isolated DEEPTRUST_HOME and small generated images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeptrust.settings import get_settings

MakeImage = Callable[..., Path]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every data test writes datasets and caches under its own tmp folder, never the repo."""
    monkeypatch.setenv("DEEPTRUST_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def write_image(
    path: Path,
    seed: int,
    *,
    fmt: str = "JPEG",
    size: tuple[int, int] = (16, 16),
    mode: str = "RGB",
    quality: int = 90,
    exif: bool = False,
) -> Path:
    """A noise image whose content is fixed by ``seed`` (same seed, same bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    options: dict = {"quality": quality} if fmt == "JPEG" else {}
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "deeptrust test camera"
        options["exif"] = tags.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **options)
    return path


@pytest.fixture
def make_image() -> MakeImage:
    return write_image


def write_labelled(root: Path, counts: dict[str, int], *, seed: int = 0, prefix: str = "") -> None:
    """``root/<prefix>LABEL/NNN.jpg`` with distinct content for each file."""
    for offset, (label, count) in enumerate(sorted(counts.items())):
        for i in range(count):
            write_image(root / prefix / label / f"{i:03d}.jpg", seed * 100_000 + offset * 1000 + i)
