"""Header-only image properties."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from deeptrust.data._jpeg import estimate_quality
from deeptrust.monitor.properties import UNREADABLE, image_properties, jpeg_quality


def _image(size=(40, 30)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_jpeg_properties_with_exif():
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    _image().save(buf, format="JPEG", quality=75, exif=exif)
    props = image_properties(buf.getvalue())
    assert props == {
        "width": 40, "height": 30, "format": "JPEG", "jpeg_quality": 75, "mode": "RGB", "metadata": "exif",
    }  # fmt: skip


def test_png_with_text_chunks_and_grey_mode():
    buf = io.BytesIO()
    info = PngInfo()
    info.add_text("parameters", "a prompt, Steps: 20")
    _image().convert("L").save(buf, format="PNG", pnginfo=info)
    props = image_properties(buf.getvalue())
    assert (props["format"], props["mode"], props["jpeg_quality"], props["metadata"]) == (
        "PNG",
        "L",
        -1,
        "text",
    )


def test_unreadable_bytes_give_the_unreadable_properties():
    assert image_properties(b"not an image at all") == UNREADABLE


def test_quality_estimate_agrees_with_the_data_package():
    for quality in (30, 50, 75, 90, 95, 100):
        buf = io.BytesIO()
        _image().save(buf, format="JPEG", quality=quality)
        tables = Image.open(io.BytesIO(buf.getvalue())).quantization
        assert jpeg_quality(tables) == estimate_quality(tables) == quality
