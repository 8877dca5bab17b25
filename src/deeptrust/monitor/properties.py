"""Image properties that describe traffic without looking at pixels: size, format, JPEG quality, colour
mode and metadata presence. Read from the header only (Pillow's lazy open: no decoding), so the service
can afford it per request (~tens of µs).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image

# Signal name → kind. Numeric signals are binned at the reference's quantiles, categorical ones by value.
PROPERTY_SIGNALS: dict[str, str] = {
    "width": "numeric",
    "height": "numeric",
    "format": "categorical",
    "jpeg_quality": "numeric",
    "mode": "categorical",
    "metadata": "categorical",
}
UNREADABLE = {"width": -1, "height": -1, "format": "", "jpeg_quality": -1, "mode": "", "metadata": "none"}

# ITU-T T.81 Annex K luminance table (natural order). The same estimate as deeptrust.data._jpeg, kept
# here because importing deeptrust.data pulls pandas, which the serving install does not have; a test
# checks that both agree.
_IJG_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.int64,
)  # fmt: skip
_Q = np.arange(1, 101)
_TABLES = np.clip(
    (_IJG_LUMINANCE[None, :] * np.where(_Q < 50, 5000 // _Q, 200 - 2 * _Q)[:, None] + 50) // 100, 1, 255
)


def jpeg_quality(tables: dict[int, Any] | None) -> int:
    """Nearest IJG quality (1..100) of luminance table 0; -1 when there is none (not a JPEG)."""
    luminance = (tables or {}).get(0)
    if luminance is None or len(luminance) != 64:
        return -1
    distance = np.abs(_TABLES - np.asarray(luminance, dtype=np.int64)[None, :]).sum(axis=1)
    return int(100 - np.argmin(distance[::-1]))


def image_properties(data: bytes) -> dict[str, Any]:
    """The properties of one upload; unreadable headers give ``UNREADABLE`` (never raises)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                info = img.info
                kinds = [k for k in ("exif", "xmp", "icc_profile") if info.get(k)]
                # PNG text chunks before the pixels (generators' "parameters"), JPEG comments; never
                # img.text, which decodes the image to reach chunks after it.
                if any(
                    isinstance(v, str | bytes)
                    for k, v in info.items()
                    if k not in ("exif", "xmp", "icc_profile")
                ):
                    kinds.append("text")
                return {
                    "width": int(img.width),
                    "height": int(img.height),
                    "format": str(img.format or ""),
                    "jpeg_quality": jpeg_quality(getattr(img, "quantization", None)),
                    "mode": str(img.mode),
                    "metadata": "+".join(k.removesuffix("_profile") for k in kinds) or "none",
                }
    except Exception:  # any header Pillow cannot parse is simply an unreadable property set
        return dict(UNREADABLE)
