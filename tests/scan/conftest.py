"""Small scan inputs: generated 32×32 JPEGs plus the awkward files a real store holds, scored by the
shipped tiny ``cifake`` model so that every test stays fast."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from deeptrust import Detector
from tests.conftest import make_image_folder

MODEL = "cifake"


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector.load(MODEL, threads=1)


def make_store(root: Path, *, per_class: int = 6) -> Path:
    """A folder of images with a corrupt JPEG, a non-image, an exact copy and a hidden file."""
    make_image_folder(root, per_class=per_class, size=32)
    good = (root / "REAL" / "real_000.jpg").read_bytes()
    (root / "REAL" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "REAL" / "notes.txt").write_text("not an image")
    (root / "FAKE" / "nested").mkdir()
    (root / "FAKE" / "nested" / "copy_of_real_000.jpg").write_bytes(good)
    (root / ".hidden.jpg").write_bytes(good)
    return root


@pytest.fixture
def store(tmp_path) -> Path:
    return make_store(tmp_path / "store")


def make_tarball(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
