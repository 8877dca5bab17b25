"""The decoded pixels for readers that need them (watermark, PDQ), decoded at most once per image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings


def pixels_of(source: Source, settings: Settings) -> np.ndarray:
    """The (H, W, 3) uint8 RGB array: the caller's, or decoded once and shared through the cache."""
    if source.pixels is not None:
        return source.pixels
    pixels = source.cache.get("pixels")
    if pixels is None:
        from deeptrust.imageio import open_image_array

        pixels = source.cache["pixels"] = open_image_array(source.data, max_pixels=settings.max_image_pixels)
    return pixels
