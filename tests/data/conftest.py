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


def write_pack(root: Path, counts: dict[tuple[str, str], int], *, generator: str = "gen") -> Path:
    """A multigen-style pack: ``root/<source>/<LABEL>/NNN.jpg`` listed by ``root/manifest.csv``.

    ``counts`` maps (source, label) to a number of distinct images; the manifest carries source,
    generator (``<generator>-<source>`` for FAKE, empty for REAL) and provenance-only columns.
    """
    lines = ["path,label,source,generator,orig_width,orig_format,licence"]
    for n, ((source, label), count) in enumerate(sorted(counts.items())):
        for i in range(count):
            rel = f"{source}/{label}/{i:03d}.jpg"
            write_image(root / rel, 500_000 + n * 1000 + i)
            gen = f"{generator}-{source}" if label == "FAKE" else ""
            lines.append(f'{rel},{label},{source},{gen},{256 + i},PNG,"CC BY, see repo"')
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root
