"""Pixels → network input, following a model card's :class:`Preprocessing`.

numpy and Pillow only: shared by training (which adds random crops and augmentation on top),
evaluation and the ONNX inference path.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from deeptrust.card import Preprocessing

Box = tuple[int, int, int, int]  # left, top, right, bottom


def fixed_crop_boxes(width: int, height: int, *, size: int, num_crops: int) -> list[Box]:
    """The deterministic crops used at inference: centre (1), + four corners (5), or a 3×3 grid (9)."""
    if num_crops not in (1, 5, 9):
        raise ValueError(f"num_crops must be 1, 5 or 9, got {num_crops}")
    xs = [0, (width - size) // 2, width - size]
    ys = [0, (height - size) // 2, height - size]
    if num_crops == 1:
        positions = [(xs[1], ys[1])]
    elif num_crops == 5:
        positions = [(xs[1], ys[1]), (xs[0], ys[0]), (xs[2], ys[0]), (xs[0], ys[2]), (xs[2], ys[2])]
    else:
        positions = [(x, y) for y in ys for x in xs]
    return [(x, y, x + size, y + size) for x, y in positions]


def grid_boxes(width: int, height: int, *, size: int, max_patches: int) -> list[Box]:
    """``size`` patches spread over the whole image, row by row: the full tiling (neighbours overlap
    just enough to reach the far edge; a border strip under size/16 may stay out) when it needs at
    most ``max_patches``, else the rows × cols grid of at most ``max_patches`` closest to the image's
    aspect, evenly spaced edge to edge."""
    if max_patches < 1:
        raise ValueError(f"max_patches must be at least 1, got {max_patches}")
    if width < size or height < size:
        raise ValueError(f"a {width}×{height} image is smaller than a {size} patch; upscale it first")
    # A tiling may leave up to size/16 pixels uncovered at each border rather than add a row for them.
    slack = size // 8
    full_cols, full_rows = (max(1, -(-(side - slack) // size)) for side in (width, height))
    if full_cols * full_rows <= max_patches:
        cols, rows = full_cols, full_rows
    else:
        cols, rows = _stratified_grid(width, height, full_cols, full_rows, max_patches)
    xs, ys = _spread(width - size, cols), _spread(height - size, rows)
    return [(x, y, x + size, y + size) for y in ys for x in xs]


def _stratified_grid(width: int, height: int, max_cols: int, max_rows: int, budget: int) -> tuple[int, int]:
    """The (cols, rows) with cols × rows ≤ budget using most of it, then closest to width : height."""
    options = [
        (c, r) for r in range(1, min(max_rows, budget) + 1) for c in range(1, min(max_cols, budget // r) + 1)
    ]
    aspect = width / height
    return max(options, key=lambda cr: (cr[0] * cr[1], -abs(np.log(cr[0] / cr[1] / aspect))))


def _spread(span: int, count: int) -> list[int]:
    """``count`` offsets from 0 to ``span`` inclusive, evenly spaced (the centre when count is 1)."""
    if count == 1:
        return [span // 2]
    return [round(i * span / (count - 1)) for i in range(count)]


MAX_UPSCALED_ASPECT = 8  # a 10000×1 strip is cut to 8×1 before upscaling, not blown up to 1 280 000×128


def upscale_plan(width: int, height: int, size: int) -> tuple[Box, tuple[int, int]]:
    """The centre box to keep and the size to resize it to so that a ``size`` crop fits."""
    short = min(width, height)
    if short >= size:
        return (0, 0, width, height), (width, height)
    keep_w, keep_h = min(width, short * MAX_UPSCALED_ASPECT), min(height, short * MAX_UPSCALED_ASPECT)
    left, top = (width - keep_w) // 2, (height - keep_h) // 2
    scale = size / short
    return (left, top, left + keep_w, top + keep_h), (
        max(size, round(keep_w * scale)),
        max(size, round(keep_h * scale)),
    )


def ensure_min_side(img: Image.Image, size: int) -> Image.Image:
    """Upscale an image smaller than a crop so the crop fits (rare; such images carry few traces)."""
    box, new_size = upscale_plan(img.width, img.height, size)
    if new_size == img.size:
        return img
    return img.resize(new_size, Image.Resampling.BILINEAR, box=box)


def image_to_crops(img: Image.Image | np.ndarray, pre: Preprocessing) -> np.ndarray:
    """An RGB image (PIL or (H, W, 3) uint8) → uint8 crops (num_crops × (2 if flip else 1), size, size, 3)."""
    size = pre.input_size
    if pre.crop == "resize":
        img = _as_image(img)
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        crops = np.asarray(img, dtype=np.uint8)[None]
    else:
        # Arrays big enough are sliced as they are (the service's and scanner's hot path: no image copy).
        if isinstance(img, Image.Image) or min(img.shape[:2]) < size:
            img = np.asarray(ensure_min_side(_as_image(img), size), dtype=np.uint8)
        height, width = img.shape[:2]
        boxes = crop_boxes(width, height, pre)
        crops = np.stack([img[top:bottom, left:right] for left, top, right, bottom in boxes])
    if pre.flip:
        crops = np.concatenate([crops, crops[:, :, ::-1]])
    return crops


def crop_boxes(width: int, height: int, pre: Preprocessing) -> list[Box]:
    """The boxes a native or grid model scores, on an image at least ``input_size`` on each side."""
    if pre.crop == "grid":
        return grid_boxes(width, height, size=pre.input_size, max_patches=pre.max_patches)
    return fixed_crop_boxes(width, height, size=pre.input_size, num_crops=pre.num_crops)


def _as_image(img: Image.Image | np.ndarray) -> Image.Image:
    return img if isinstance(img, Image.Image) else Image.fromarray(img, "RGB")


def normalize(crops: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 (N, H, W, 3) → float32 (N, 3, H, W), scaled to [0, 1] then standardised."""
    mean = np.asarray(pre.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(pre.std, dtype=np.float32).reshape(1, 3, 1, 1)
    # (x / 255 - mean) / std as one multiply-add into a preallocated NCHW array: this runs per request.
    n, h, w, _ = crops.shape
    out = np.empty((n, 3, h, w), dtype=np.float32)
    np.multiply(crops.transpose(0, 3, 1, 2), 1.0 / (255.0 * std), out=out, casting="unsafe")
    out -= mean / std
    return out
