"""Real photos for the evidence tests: the first images of each class of the shared sd-vs-photos pack
(512×512; the FAKE ones are Stable Diffusion 1.x outputs), read straight from the archive."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

SD_VS_PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "sd-vs-photos.tar.gz"


def read_photos(per_class: int) -> dict[str, list[Image.Image]]:
    if not SD_VS_PHOTOS.is_file():
        pytest.skip(f"the shared dataset {SD_VS_PHOTOS} is missing")
    out: dict[str, list[Image.Image]] = {"REAL": [], "FAKE": []}
    with tarfile.open(SD_VS_PHOTOS) as tar:
        for member in tar:
            label = member.name.split("/")[1] if member.name.count("/") == 2 else ""
            if member.isfile() and label in out and len(out[label]) < per_class:
                handle = tar.extractfile(member)
                assert handle is not None
                out[label].append(Image.open(io.BytesIO(handle.read())).convert("RGB"))
            if all(len(v) >= per_class for v in out.values()):
                break
    return out


@pytest.fixture(scope="session")
def photos() -> dict[str, list[Image.Image]]:
    """8 REAL and 8 FAKE 512×512 RGB images."""
    return read_photos(8)
