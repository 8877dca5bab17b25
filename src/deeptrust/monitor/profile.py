"""The reference profile a model card carries: what its validation traffic looked like.

``build_profile`` turns per-image scores, properties and pooled embeddings into a JSON-safe dict
(``card.drift_profile``); ``Profile.from_card`` reads it back into the objects the tests need. Binned
signals keep only their bin edges (or categories) and the reference's counts. The embedding keeps a
standardisation, a PCA basis (``components`` directions, whitened) and the reference images projected
onto it, as float16 base64 — about 100 KB for a 4 192-dimensional model, instead of the raw features.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from deeptrust.monitor.properties import PROPERTY_SIGNALS
from deeptrust.monitor.stats import FourierFeatures, median_bandwidth

PROFILE_VERSION = 1
DECILES = np.linspace(0.1, 0.9, 9)
OTHER = "(other)"  # the categorical bin of values the reference never showed
SCORE_SIGNAL = "score"
EMBEDDING_SIGNAL = "embedding"


class NoProfileError(LookupError):
    """The model card carries no reference profile (a card made before drift monitoring)."""


def encode_array(a: np.ndarray, dtype: str = "float16") -> dict[str, Any]:
    """Little-endian base64; float16 for unit-scale arrays, float32 where values may be large."""
    a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"shape": list(a.shape), "dtype": dtype, "b64": base64.b64encode(a.tobytes()).decode()}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    raw = np.frombuffer(
        base64.b64decode(d["b64"]), dtype=np.dtype(d.get("dtype", "float16")).newbyteorder("<")
    )
    return raw.reshape(d["shape"]).astype(np.float32)


def numeric_reference(values: np.ndarray) -> dict[str, Any]:
    """Bin edges at the reference's minimum, deciles and just above its maximum (ties merged), so values
    outside the reference's range get bins of their own; and the reference's counts per bin."""
    values = np.asarray(values, np.float64)
    inner = np.quantile(values, DECILES)
    edges = np.unique([values.min(), *inner, np.nextafter(values.max(), np.inf)])
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {"kind": "numeric", "edges": [float(e) for e in edges], "counts": counts.tolist()}


def categorical_reference(values: list[str]) -> dict[str, Any]:
    """Categories by frequency, plus an empty ``(other)`` bin for values the reference never had."""
    cats, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {
        "kind": "categorical",
        "categories": [str(c) for c in cats[order]] + [OTHER],
        "counts": [int(c) for c in counts[order]] + [0],
    }


def embedding_reference(
    pooled: np.ndarray, *, components: int = 8, max_reference: int = 500, seed: int = 0
) -> dict[str, Any]:
    """Standardise, project on the top principal directions (whitened), keep the projected sample."""
    x = np.asarray(pooled, np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    k = max(1, min(components, len(x) - 1, x.shape[1]))
    _, sing, vt = np.linalg.svd(z, full_matrices=False)
    spread = sing[:k] / np.sqrt(max(len(x) - 1, 1)) + 1e-6
    basis = vt[:k] / spread[:, None]  # whitened: every direction has unit variance on the reference
    projected = z @ basis.T
    if len(projected) > max_reference:
        keep = np.random.default_rng(seed).choice(len(projected), max_reference, replace=False)
        projected = projected[np.sort(keep)]
    return {
        "dim": int(x.shape[1]),
        "components": k,
        "mean": encode_array(mean, "float32"),
        "scale": encode_array(scale, "float32"),
        "basis": encode_array(basis),
        "reference": encode_array(projected),
        "bandwidth": median_bandwidth(projected, seed=seed),
        "fourier_features": 64,
        "seed": seed,
    }


def build_profile(
    p_ai: np.ndarray,
    properties: list[dict[str, Any]],
    embeddings: np.ndarray | None,
    *,
    data: dict[str, Any],
    components: int = 8,
) -> dict[str, Any]:
    """The ``card.drift_profile`` dict from per-image arrays of the reference (validation) images."""
    if len(p_ai) < 2:
        raise ValueError(f"a reference profile needs at least 2 images, got {len(p_ai)}")
    signals: dict[str, Any] = {SCORE_SIGNAL: numeric_reference(np.asarray(p_ai))}
    for name, kind in PROPERTY_SIGNALS.items():
        values = [p[name] for p in properties]
        signals[name] = (
            numeric_reference(np.asarray(values, np.float64))
            if kind == "numeric"
            else categorical_reference([str(v) for v in values])
        )
    return {
        "version": PROFILE_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": data,
        "n": len(p_ai),
        "signals": signals,
        "embedding": None if embeddings is None else embedding_reference(embeddings, components=components),
    }


@dataclass(frozen=True)
class BinnedReference:
    """One binned signal: how to bin a value, and the reference's counts per bin."""

    kind: str
    counts: np.ndarray
    edges: np.ndarray | None = None
    categories: tuple[str, ...] = ()

    def code(self, value: Any) -> int:
        if self.kind == "numeric":
            assert self.edges is not None
            return int(np.searchsorted(self.edges, float(value), side="right"))
        try:
            return self.categories.index(str(value))
        except ValueError:
            return len(self.categories) - 1  # (other)

    def labels(self) -> list[str]:
        """Human-readable bin names (for the report's plots)."""
        if self.kind == "categorical":
            return list(self.categories)
        e = [f"{v:g}" for v in (self.edges if self.edges is not None else [])]
        if not e:
            return ["all"]
        return [f"<{e[0]}", *(f"{a}–{b}" for a, b in itertools.pairwise(e)), f"≥{e[-1]}"]


@dataclass(frozen=True)
class EmbeddingReference:
    mean: np.ndarray
    scale: np.ndarray
    basis: np.ndarray  # (k, dim)
    reference: np.ndarray  # (n, k)
    features: FourierFeatures

    def project(self, pooled: np.ndarray) -> np.ndarray:
        """(n, dim) pooled features → (n, k) coordinates in the reference's whitened PCA space."""
        return ((np.asarray(pooled, np.float32) - self.mean) / self.scale) @ self.basis.T

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])


@dataclass(frozen=True)
class Profile:
    signals: dict[str, BinnedReference]
    embedding: EmbeddingReference | None
    n: int
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Profile:
        if not raw:
            raise NoProfileError("the model card carries no reference profile")
        if raw.get("version") != PROFILE_VERSION:
            raise ValueError(f"reference profile version {raw.get('version')!r}; expected {PROFILE_VERSION}")
        signals = {}
        for name, s in raw["signals"].items():
            signals[name] = BinnedReference(
                kind=s["kind"],
                counts=np.asarray(s["counts"], np.int64),
                edges=np.asarray(s["edges"], np.float64) if s["kind"] == "numeric" else None,
                categories=tuple(s.get("categories", ())),
            )
        return cls(
            signals=signals, embedding=_embedding(raw.get("embedding")), n=int(raw["n"]), data=raw["data"]
        )

    @classmethod
    def from_card(cls, card: Any) -> Profile:
        """Raises NoProfileError for a card without one (old cards)."""
        return cls.from_dict(getattr(card, "drift_profile", None) or {})


def _embedding(raw: dict[str, Any] | None) -> EmbeddingReference | None:
    if not raw:
        return None
    reference = decode_array(raw["reference"])
    return EmbeddingReference(
        mean=decode_array(raw["mean"]),
        scale=decode_array(raw["scale"]),
        basis=decode_array(raw["basis"]),
        reference=reference,
        features=FourierFeatures.create(
            reference.shape[1],
            float(raw["bandwidth"]),
            features=int(raw["fourier_features"]),
            seed=int(raw["seed"]),
        ),
    )
