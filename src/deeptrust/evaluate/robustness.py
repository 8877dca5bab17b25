"""Everyday degradations an image meets between a generator and a detector.

Each perturbation maps an RGB image to an RGB image; evaluation re-scores a sample under each one
(``deeptrust.evaluate.run``). They are deterministic, so a robustness table is reproducible.

- ``jpeg90/70/50``: one in-memory JPEG re-encode at that quality (4:2:0 chroma subsampling, Pillow's
  default), as when a picture is re-saved or uploaded.
- ``downscale0.5``: half the width and height, bicubic (Pillow antialiases when shrinking).
- ``centre_crop``: the central half of the *area* (each side × 1/√2 ≈ 0.707), as a crop for a
  thumbnail or a new aspect would keep most of the picture.

Non-goals: random augmentation (training does that), adversarial attacks.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image

Perturbation = Callable[[Image.Image], Image.Image]


def jpeg(quality: int) -> Perturbation:
    def apply(img: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as out:
            return out.convert("RGB")

    apply.__name__ = f"jpeg{quality}"
    return apply


def downscale(factor: float) -> Perturbation:
    def apply(img: Image.Image) -> Image.Image:
        size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
        return img.resize(size, Image.Resampling.BICUBIC)

    apply.__name__ = f"downscale{factor}"
    return apply


def centre_crop(img: Image.Image, *, area: float = 0.5) -> Image.Image:
    """The central ``area`` fraction of the image, aspect ratio kept."""
    side = math.sqrt(area)
    w, h = max(1, round(img.width * side)), max(1, round(img.height * side))
    left, top = (img.width - w) // 2, (img.height - h) // 2
    return img.crop((left, top, left + w, top + h))


PERTURBATIONS: dict[str, Perturbation] = {
    "jpeg90": jpeg(90),
    "jpeg70": jpeg(70),
    "jpeg50": jpeg(50),
    "downscale0.5": downscale(0.5),
    "centre_crop": centre_crop,
}
