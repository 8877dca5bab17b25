import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.imageio import (
    CorruptImageError,
    ImageTooLargeError,
    UnsupportedImageError,
    open_image,
)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "mode,fmt",
    [
        ("RGB", "JPEG"),
        ("L", "PNG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("CMYK", "JPEG"),
        ("LA", "PNG"),
        ("I;16", "PNG"),
        ("RGB", "WEBP"),
        ("1", "PNG"),
    ],
)
def test_colour_modes_become_rgb(mode, fmt):
    img = Image.new("RGB", (20, 10), (200, 40, 40)).convert(mode)
    out = open_image(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (20, 10)


def test_transparency_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(open_image(encode(img, "PNG"))).min() == 255


def test_sixteen_bit_keeps_its_range():
    arr = np.full((4, 4), 65535, np.uint16)
    out = open_image(encode(Image.fromarray(arr), "PNG"))
    assert np.asarray(out).min() == 255


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (30, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = open_image(encode(img, "JPEG", exif=exif))
    assert out.size == (10, 30)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = np.asarray(open_image(buf.getvalue()))
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def test_truncated_jpeg_is_corrupt():
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(CorruptImageError, match="truncated"):
        open_image(data[: len(data) // 2])


@pytest.mark.parametrize("payload", [b"", b"%PDF-1.4 not an image", b"\x00" * 100])
def test_non_images_are_unsupported(payload):
    with pytest.raises(UnsupportedImageError, match="expected"):
        open_image(payload)


def test_pixel_cap_stops_decompression_bombs_before_decoding():
    data = encode(Image.new("L", (4000, 4000)), "PNG")  # tiny file, 16 M pixels
    with pytest.raises(ImageTooLargeError, match="cap"):
        open_image(data, max_pixels=1_000_000)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "nope.jpg")


def test_array_decoding_matches_image_decoding(tmp_path):
    """The service and scanner decode to arrays; training and evaluation to PIL images: same pixels."""
    from deeptrust.imageio import open_image_array

    rng = np.random.default_rng(3)
    for fmt, mode in (("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "RGBA"), ("WEBP", "RGB")):
        img = Image.fromarray(rng.integers(0, 255, (24, 40, 4), dtype=np.uint8), "RGBA").convert(mode)
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        array = open_image_array(buf.getvalue())
        assert array.shape == (24, 40, 3) and array.dtype == np.uint8
        assert np.array_equal(array, np.asarray(open_image(buf.getvalue())))
