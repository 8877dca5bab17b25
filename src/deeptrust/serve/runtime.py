"""The model as the service holds it: decode → preprocess (thread pool) → batched ONNX run → result.

A ``ModelHolder`` owns the current ``ModelRuntime`` and swaps in a new one atomically (hot reload):
requests already decoded for the old model finish on the old model, because each decoded upload keeps
a reference to the runtime that prepared it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from deeptrust.card import Preprocessing
from deeptrust.detector import Detector, aggregate, softmax
from deeptrust.evidence.types import Evidence
from deeptrust.imageio import sniff_format
from deeptrust.monitor.embed import predict_with_embeddings
from deeptrust.serve.cam import Head, class_activation, image_activation, load_head, render_heatmap
from deeptrust.settings import Settings

# bytes + pixels → evidence beyond the pixels (Service.collect_evidence)
Inspector = Callable[[bytes, np.ndarray], list[Evidence]]


@dataclass
class Decoded:
    """One upload, decoded and cut into crops for a specific runtime."""

    runtime: ModelRuntime
    sha256: str
    width: int
    height: int
    format: str
    bytes: int
    crops: np.ndarray
    image: Image.Image | None  # kept only when a heatmap will be drawn
    timings_ms: dict[str, float] = field(default_factory=dict)
    embedding: np.ndarray | None = None  # pooled features, set by predict when drift monitoring wants them
    evidence: list[Evidence] = field(default_factory=list)  # beyond the pixels: deeptrust.evidence


class ModelRuntime:
    def __init__(self, name_or_path: str, settings: Settings):
        from deeptrust.registry import resolve_reference

        # Where the model came from (a path, the registry, or its local cache when it is unreachable).
        self.resolution = resolve_reference(name_or_path, settings=settings)
        self.detector = Detector.load(
            self.resolution.path,
            threads=settings.intra_op_threads,
            max_pixels=settings.max_image_pixels,
            spin=settings.onnx_spin,
        )
        self.card = self.detector.card
        self.head: Head | None = load_head(self.detector.path) if self.card.has_features else None
        # The card's drift profile summarises pooled features: the same model call returns them.
        self.embed = settings.drift_enabled and self.card.has_features and bool(self.card.drift_profile)
        self.warmed = False

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.card.name, "version": self.card.version}

    def warm_up(self) -> None:
        """One run per batch shape the batcher is likely to form, so the first requests are not slow."""
        size = self.card.preprocessing.input_size
        blank = Image.fromarray(np.full((size * 2, size * 2, 3), 127, np.uint8))
        crops = self.detector.preprocess(blank)
        for n in (1, 2, 4):
            self.detector.run(np.concatenate([crops] * n))
        self.warmed = True

    def decode(self, data: bytes, *, keep_image: bool = False, inspect: Inspector | None = None) -> Decoded:
        """Bytes → crops (and ``inspect``'s evidence); raises deeptrust.imageio.ImageError for bad input."""
        t0 = time.perf_counter()
        pixels = self.detector.decode_array(data)
        t1 = time.perf_counter()
        crops = self.detector.preprocess(pixels)
        t2 = time.perf_counter()
        evidence = inspect(data, pixels) if inspect is not None else []
        timings = {"decode": (t1 - t0) * 1e3, "preprocess": (t2 - t1) * 1e3}
        if inspect is not None:
            timings["evidence"] = (time.perf_counter() - t2) * 1e3
        height, width = pixels.shape[:2]
        return Decoded(
            runtime=self,
            sha256=hashlib.sha256(data).hexdigest(),
            width=width,
            height=height,
            format=sniff_format(data),
            bytes=len(data),
            crops=crops,
            image=Image.fromarray(pixels, "RGB") if keep_image else None,
            timings_ms=timings,
            evidence=evidence,
        )

    def predict(self, items: list[Decoded]) -> list[np.ndarray]:
        """Class probabilities per upload, every crop of the batch in one ONNX call."""
        if self.embed:
            probs, pooled = predict_with_embeddings(self.detector, [it.crops for it in items])
            for item, vector in zip(items, pooled, strict=True):
                item.embedding = vector
            return list(probs)
        return list(self.detector.predict_crops([it.crops for it in items], batch_size=1 << 30))

    def explain(self, item: Decoded) -> tuple[np.ndarray, bytes, bytes]:
        """Probabilities plus the heatmap (RGBA PNG) and overlay (PNG) for one upload."""
        if self.head is None or item.image is None:
            raise RuntimeError(f"model {self.card.name} has no feature output: no heatmap")
        d = self.detector
        pre = explain_preprocessing(self.card.preprocessing)
        same = pre == self.card.preprocessing
        crops = item.crops if same else d.preprocess_with(item.image, pre)
        chunks = [
            d.session.run(["logits", "features"], {d._input: crops[i : i + 64]})
            for i in range(0, len(crops), 64)
        ]
        features = np.concatenate([f for _, f in chunks])
        # The verdict is the one /v1/predict gives (the card's patches and rule); a grid's map is denser.
        if same:
            logits = np.concatenate([lg for lg, _ in chunks]).astype(np.float32)
            card_pre = self.card.preprocessing
            probs = aggregate(softmax(logits), card_pre.aggregate, card_pre.top_k, self.card.real_index)
        else:
            probs = d.predict_crops([item.crops])[0]
        target = self.target_class(probs)
        cams = class_activation(features, self.head, target=target, reference=self.card.real_index)
        heat = image_activation(cams, item.image.size, pre)
        heatmap, overlay = render_heatmap(item.image, heat)
        return probs, heatmap, overlay

    def target_class(self, probs: np.ndarray) -> int:
        """The most likely class that is not the real one: what a heatmap shows evidence for."""
        masked = probs.copy()
        masked[self.card.real_index] = -1.0
        return int(masked.argmax())

    def result(self, probs: np.ndarray) -> dict[str, Any]:
        return result_of(self.detector, probs)


def result_of(detector: Detector, probs: np.ndarray) -> dict[str, Any]:
    """One image's probabilities → the answer's model fields (the rollout's shadow lane process too)."""
    card = detector.card
    return {
        "label": detector.label_for(probs),
        "p_ai": float(1.0 - probs[card.real_index]),
        "threshold": card.threshold,
        "scores": {c: float(p) for c, p in zip(card.class_names, probs, strict=True)},
        "model": {"name": card.name, "version": card.version},
    }


EXPLAIN_MAX_PATCHES = 64  # a heatmap tiles up to 64 patches (1024² at 128 px), then samples a grid


def explain_preprocessing(pre: Preprocessing) -> Preprocessing:
    """A grid model's heatmap looks at more patches than its verdict: the full tiling up to a bound."""
    if pre.crop != "grid":
        return pre
    return dataclasses.replace(pre, max_patches=max(pre.max_patches, EXPLAIN_MAX_PATCHES))


def predict_grouped(items: list[Decoded]) -> list[np.ndarray]:
    """The batch function: items may belong to different runtimes during a hot swap."""
    out: list[np.ndarray | None] = [None] * len(items)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[id(it.runtime)].append(i)
    for indices in groups.values():
        runtime = items[indices[0]].runtime
        for i, probs in zip(indices, runtime.predict([items[i] for i in indices]), strict=True):
            out[i] = probs
    return [p for p in out if p is not None]


class ModelHolder:
    """The current runtime; ``reload`` builds and warms a new one, then swaps it in."""

    _versions = itertools.count(1)

    def __init__(self, name_or_path: str, settings: Settings):
        self.settings = settings
        self.source = name_or_path
        self._lock = threading.Lock()
        self.current = ModelRuntime(name_or_path, settings)
        self.generation = next(self._versions)

    def reload(self, name_or_path: str | None = None) -> ModelRuntime:
        with self._lock:
            runtime = ModelRuntime(name_or_path or self.source, self.settings)
            runtime.warm_up()
            self.current, self.source = runtime, name_or_path or self.source
            self.generation = next(self._versions)
            return runtime
