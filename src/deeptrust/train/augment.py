"""Training-time augmentation: what platforms do to uploads, applied to native-resolution crops.

Order follows an upload's life: maybe downscaled, cropped, flipped, maybe blurred, maybe re-encoded as
JPEG. The crop is taken at native resolution (never by shrinking the whole image) so the generator's
pixel traces reach the network; only the optional ``resize`` step rescales, on purpose and rarely.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from deeptrust.preprocess import ensure_min_side
from deeptrust.train.config import AugmentConfig, InputConfig

# A quarter turn or a vertical flip: the dihedral moves other than the identity and the horizontal
# mirror. They keep every pixel (no interpolation), so generation traces survive them.
_TURNS = (Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270, Image.FLIP_TOP_BOTTOM)


def random_crop(img: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    img = ensure_min_side(img, size)
    x = int(rng.integers(0, img.width - size + 1))
    y = int(rng.integers(0, img.height - size + 1))
    return img.crop((x, y, x + size, y + size))


def jpeg_recompress(img: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def translate(pixels: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift the image by up to ``shift`` pixels each way, filling the edge by reflection; same size out."""
    h, w = pixels.shape[:2]
    padded = np.pad(pixels, ((shift, shift), (shift, shift), (0, 0)), mode="reflect")
    dy, dx = (int(v) for v in rng.integers(0, 2 * shift + 1, size=2))
    return padded[dy : dy + h, dx : dx + w]


def erase(pixels: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """Cutout: blank a ``side``-pixel square (clipped at the border) centred anywhere in the image to
    mid-grey, which normalises to about zero. The rest keeps its pixels; a copy is returned."""
    h, w = pixels.shape[:2]
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    top, left = max(0, cy - side // 2), max(0, cx - side // 2)
    out = pixels.copy()
    out[top : cy - side // 2 + side, left : cx - side // 2 + side] = 128
    return out


def augment(pixels: np.ndarray, aug: AugmentConfig, inp: InputConfig, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (H, W, 3) image → one augmented uint8 (size, size, 3) training crop."""
    img = _size_and_place(Image.fromarray(pixels), aug, inp, rng)
    if rng.random() < aug.hflip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if aug.rot90 and rng.random() < aug.rot90:
        img = img.transpose(_TURNS[int(rng.integers(len(_TURNS)))])
    if rng.random() < aug.blur_p:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(*aug.blur_radius)))
    if rng.random() < aug.jpeg_p:
        img = jpeg_recompress(img, int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1)))
    pixels = np.asarray(img, dtype=np.uint8)
    if aug.erase and rng.random() < aug.erase_p:
        pixels = erase(pixels, aug.erase, rng)
    return pixels


def _size_and_place(
    img: Image.Image, aug: AugmentConfig, inp: InputConfig, rng: np.random.Generator
) -> Image.Image:
    """Maybe downscale, then crop (native) or resize (whole image, maybe shifted) to the input size."""
    size = inp.size
    if rng.random() < aug.resize_p:
        scale = rng.uniform(*aug.resize_scale)
        small = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(small, Image.BILINEAR)
        if inp.crop == "resize":  # small-image models see the image at their input size again
            img = img.resize((size, size), Image.BILINEAR)
    if inp.crop != "resize":
        return random_crop(img, size, rng)
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    if aug.translate and rng.random() < aug.translate_p:
        img = Image.fromarray(translate(np.asarray(img), aug.translate, rng))
    return img
