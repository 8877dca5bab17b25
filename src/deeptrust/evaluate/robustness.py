"""Everyday degradations an image meets between a generator and a detector.

Each perturbation maps an RGB image to an RGB image; evaluation re-scores a sample under each one
(``deeptrust.evaluate.run``). They are deterministic, so a robustness table is reproducible.

- ``jpeg90/70/50``: one in-memory JPEG re-encode at that quality (4:2:0 chroma subsampling, Pillow's
  default), as when a picture is re-saved or uploaded.
- ``downscale0.5``: half the width and height, bicubic (Pillow antialiases when shrinking).
- ``upscale1.5``: one and a half times the width and height, bicubic (an upscaled re-post).
- ``png``: a lossless PNG re-save (only the container changes).
- ``rotate3``: a 3° bicubic rotation, cropped to the box without blank corners.
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


def png_resave(img: Image.Image) -> Image.Image:
    """A lossless PNG round trip: the pixels stay, the container and its metadata change."""
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as out:
        return out.convert("RGB")


def rotate(degrees: float) -> Perturbation:
    """A small bicubic rotation, cropped to the largest centred box without blank corners."""

    def apply(img: Image.Image) -> Image.Image:
        turned = img.convert("RGB").rotate(degrees, resample=Image.Resampling.BICUBIC)
        a = math.radians(abs(degrees))
        w, h = img.width, img.height
        # the axis-aligned box inside the rotated frame: shrink each side by the corner overhang
        keep_w = max(1, int(w * math.cos(a) - h * math.sin(a)))
        keep_h = max(1, int(h * math.cos(a) - w * math.sin(a)))
        left, top = (w - keep_w) // 2, (h - keep_h) // 2
        return turned.crop((left, top, left + keep_w, top + keep_h))

    apply.__name__ = f"rotate{degrees:g}"
    return apply


PERTURBATIONS: dict[str, Perturbation] = {
    "jpeg90": jpeg(90),
    "jpeg70": jpeg(70),
    "jpeg50": jpeg(50),
    "downscale0.5": downscale(0.5),
    "upscale1.5": downscale(1.5),
    "centre_crop": centre_crop,
    "png": png_resave,
    "rotate3": rotate(3),
}
