"""Grad-CAM without torch: for a head of global average pooling + linear layer, Grad-CAM at the last
convolution equals CAM from the head weights, so the ONNX ``features`` output and the head's weights
(read once from the ONNX graph, de-quantised when the model is INT8) are all it takes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from deeptrust.card import Preprocessing
from deeptrust.preprocess import crop_boxes, upscale_plan

MAX_HEATMAP_SIDE = 1024  # heatmaps are rendered at most this large on their long side


@dataclass(frozen=True)
class Head:
    weight: np.ndarray  # (classes, channels)
    bias: np.ndarray  # (classes,)


def load_head(onnx_path: Path, *, output: str = "logits") -> Head:
    """Find the Gemm/MatMul that produces ``output`` (through Q/DQ pairs) and return its weights."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    def value(name: str) -> np.ndarray:
        if name in inits:
            return inits[name].astype(np.float32)
        node = producer[name]
        if node.op_type != "DequantizeLinear":
            raise ValueError(f"cannot read head weight {name!r} produced by {node.op_type}")
        q = inits[node.input[0]].astype(np.float32)
        scale = inits[node.input[1]].astype(np.float32)
        zero = inits[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if scale.ndim:
            shape[axis] = -1
        return (q - zero.reshape(shape)) * scale.reshape(shape)

    node = producer[output]
    while node.op_type in ("QuantizeLinear", "DequantizeLinear"):
        node = producer[node.input[0]]
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        weight = value(node.input[1])
        weight = weight if trans_b else weight.T
        bias = value(node.input[2]) if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
        return Head(weight, bias.reshape(-1))
    raise ValueError(f"the head of {onnx_path} is a {node.op_type}, not a linear layer: no CAM for it")


def class_activation(features: np.ndarray, head: Head, *, target: int, reference: int) -> np.ndarray:
    """(N, K, h, w) features → (N, h, w) evidence for ``target`` over ``reference`` (logit units)."""
    direction = head.weight[target] - head.weight[reference]
    return np.einsum("k,nkhw->nhw", direction, features.astype(np.float32))


def image_activation(cams: np.ndarray, size: tuple[int, int], pre: Preprocessing) -> np.ndarray:
    """Per-crop maps → one (H, W) map in image coordinates; NaN where no crop looked."""
    width, height = size
    if pre.flip:  # the second half are mirrored crops: mirror their maps back and average
        half = len(cams) // 2
        cams = (cams[:half] + cams[half:, :, ::-1]) / 2.0
    if pre.crop == "resize":
        return _resize(cams.mean(axis=0), (width, height))
    _, scaled = upscale_plan(width, height, pre.input_size)  # extreme strips: approximate placement
    # Accumulated at most MAX_HEATMAP_SIDE on the long side: a 50 MP map would cost 200 MB per array.
    shrink = min(1.0, MAX_HEATMAP_SIDE / max(scaled))
    out_w, out_h = max(1, round(scaled[0] * shrink)), max(1, round(scaled[1] * shrink))
    total = np.zeros((out_h, out_w), np.float32)
    count = np.zeros_like(total)
    boxes = crop_boxes(*scaled, pre)
    for cam, box in zip(cams, boxes, strict=True):
        left, top, right, bottom = (round(v * shrink) for v in box)
        if right > left and bottom > top:
            total[top:bottom, left:right] += _resize(cam, (right - left, bottom - top))
            count[top:bottom, left:right] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        heat = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    if pre.crop == "grid" and not (count > 0).all():
        heat = _fill_from_nearest(heat, cams, boxes, shrink)
    return heat if (out_w, out_h) == (width, height) else _resize(heat, (width, height))


def _fill_from_nearest(heat: np.ndarray, cams: np.ndarray, boxes: list, shrink: float) -> np.ndarray:
    """Pixels no patch covered take the mean evidence of the nearest patch: a sampled grid's map still
    covers the whole image (coarser between patches, as the verdict itself is)."""
    centres = np.asarray([((b[0] + b[2]) / 2 * shrink, (b[1] + b[3]) / 2 * shrink) for b in boxes])
    means = cams.reshape(len(cams), -1).mean(axis=1)
    ys, xs = np.nonzero(np.isnan(heat))
    nearest = np.empty(len(ys), np.int64)
    for start in range(0, len(ys), 1 << 16):  # bounded memory: (chunk, patches) distances at a time
        dx = xs[start : start + (1 << 16), None] - centres[None, :, 0]
        dy = ys[start : start + (1 << 16), None] - centres[None, :, 1]
        nearest[start : start + (1 << 16)] = np.argmin(dx * dx + dy * dy, axis=1)
    heat = heat.copy()
    heat[ys, xs] = means[nearest]
    return heat


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(arr.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR))


def render_heatmap(image: Image.Image, heat: np.ndarray) -> tuple[bytes, bytes]:
    """A diverging colour map (red: AI evidence, blue: real) as RGBA PNG, and the same over the image."""
    scale = min(1.0, MAX_HEATMAP_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
        heat = _resize(np.nan_to_num(heat, nan=0.0), size)
    peak = float(np.nanmax(np.abs(heat))) if np.isfinite(heat).any() else 0.0
    v = np.nan_to_num(heat / peak if peak > 0 else np.zeros_like(heat), nan=0.0)
    rgba = np.zeros((*v.shape, 4), np.uint8)
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    rgba[..., 0] = np.clip(255 * (pos * 1.0 + neg * 0.1), 0, 255)
    rgba[..., 1] = np.clip(255 * (pos**2 * 0.8 + neg * 0.45), 0, 255)
    rgba[..., 2] = np.clip(255 * (neg * 1.0), 0, 255)
    rgba[..., 3] = np.clip(255 * 0.85 * np.abs(v) ** 0.7, 0, 255)
    heatmap = Image.fromarray(rgba, "RGBA")
    overlay = Image.alpha_composite(image.convert("RGBA"), heatmap).convert("RGB")
    return _png(heatmap), _png(overlay)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
