"""Library inference: ``Detector.load("photos").predict([...])`` with onnxruntime, numpy and Pillow only.

All preprocessing comes from the model card stored beside the ONNX file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from deeptrust.card import ONNX_FILE, ModelCard, Preprocessing, card_of_onnx, load_card
from deeptrust.imageio import open_image, open_image_array
from deeptrust.preprocess import image_to_crops, normalize
from deeptrust.registry import resolve_model

ImageLike = str | Path | bytes | Image.Image


@dataclass(frozen=True)
class Prediction:
    label: str
    p_ai: float
    scores: dict[str, float]
    threshold: float
    width: int
    height: int


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def aggregate(probs: np.ndarray, rule: str, top_k: int, real_index: int) -> np.ndarray:
    """One image's patch probabilities (P, C) → its probabilities (C,), by the card's rule."""
    if rule == "mean" or len(probs) == 1:
        return probs.mean(axis=0)
    if rule == "geomean":
        logp = np.log(np.clip(probs, 1e-7, 1.0)).mean(axis=0)
        e = np.exp(logp - logp.max())
        return e / e.sum()
    if rule == "top_k":
        order = np.argsort(probs[:, real_index])  # lowest p_real = highest p_ai first
        return probs[order[: max(1, top_k)]].mean(axis=0)
    raise ValueError(f"unknown aggregation rule {rule!r}; choose mean, geomean or top_k")


class Detector:
    """An ONNX model plus its card. Thread-safe: ONNX Runtime sessions may be shared across threads."""

    def __init__(
        self,
        onnx_path: Path,
        card: ModelCard,
        *,
        threads: int = 0,
        max_pixels: int = 50_000_000,
        spin: bool = True,
    ):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        if not spin:  # idle ONNX Runtime threads sleep instead of spinning: they share cores with decoding
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.card = card
        self.path = Path(onnx_path)
        self.max_pixels = max_pixels
        self._input = self.session.get_inputs()[0].name

    @classmethod
    def load(cls, name_or_path: str | Path, **kwargs: Any) -> Detector:
        """Load by registered name (``deeptrust models list``), model directory or ``.onnx`` path."""
        path = Path(name_or_path)
        if path.suffix == ".onnx" and path.is_file():  # a specific file: its card beside it, or inside it
            return cls(path, card_of_onnx(path), **kwargs)
        directory = resolve_model(name_or_path)
        return cls(directory / ONNX_FILE, load_card(directory), **kwargs)

    # -- the steps, usable one by one (the service and scanner batch across requests) --
    def decode(self, source: ImageLike) -> Image.Image:
        return open_image(source, max_pixels=self.max_pixels)

    def decode_array(self, source: str | Path | bytes) -> np.ndarray:
        """As :meth:`decode`, as an (H, W, 3) uint8 array (cheaper for the service and the scanner)."""
        return open_image_array(source, max_pixels=self.max_pixels)

    def preprocess(self, img: Image.Image | np.ndarray) -> np.ndarray:
        """RGB image → float32 crops (num_crops, 3, size, size) ready for the network."""
        return self.preprocess_with(img, self.card.preprocessing)

    @staticmethod
    def preprocess_with(img: Image.Image | np.ndarray, pre: Preprocessing) -> np.ndarray:
        """As :meth:`preprocess` under another patch policy (the heatmap's denser grid)."""
        return normalize(image_to_crops(img, pre), pre)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Float32 crops (N, 3, H, W) → class probabilities (N, C)."""
        logits = self.session.run(None, {self._input: batch})[0]
        return softmax(logits.astype(np.float32))

    def predict_crops(self, crops: Sequence[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """Per-image crop stacks → per-image probabilities (N, C), averaged over each image's crops."""
        if not crops:
            return np.zeros((0, len(self.card.class_names)), np.float32)
        counts = [len(c) for c in crops]
        flat = np.concatenate(crops)
        probs = np.concatenate([self.run(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)])
        bounds = np.cumsum([0, *counts])
        pre = self.card.preprocessing
        return np.stack(
            [
                aggregate(probs[a:b], pre.aggregate, pre.top_k, self.card.real_index)
                for a, b in itertools.pairwise(bounds)
            ]
        )

    def p_ai(self, probs: np.ndarray) -> np.ndarray:
        """Probability that an image is not real: one minus the real class's probability."""
        return 1.0 - probs[:, self.card.real_index]

    def label_for(self, probs: np.ndarray) -> str:
        """Real unless p_ai reaches the card's threshold; then the most likely non-real class."""
        if 1.0 - probs[self.card.real_index] < self.card.threshold:
            return self.card.real_class
        masked = probs.copy()
        masked[self.card.real_index] = -1.0
        return self.card.class_names[int(masked.argmax())]

    def predict_proba(self, images: Sequence[ImageLike], *, batch_size: int = 64) -> np.ndarray:
        crops = [self.preprocess(self.decode(im)) for im in images]
        return self.predict_crops(crops, batch_size=batch_size)

    def predict(self, images: Sequence[ImageLike], *, batch_size: int = 64) -> list[Prediction]:
        decoded = [self.decode(im) for im in images]
        probs = self.predict_crops([self.preprocess(im) for im in decoded], batch_size=batch_size)
        return [
            Prediction(
                label=self.label_for(p),
                p_ai=float(1.0 - p[self.card.real_index]),
                scores={c: float(s) for c, s in zip(self.card.class_names, p, strict=True)},
                threshold=self.card.threshold,
                width=im.width,
                height=im.height,
            )
            for im, p in zip(decoded, probs, strict=True)
        ]
