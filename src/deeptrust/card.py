"""The model card: everything needed to use and judge a model, travelling with its weights.

Saved as ``card.json`` beside ``model.onnx`` and embedded in the ONNX metadata (key ``deeptrust.card``).
Inference takes all preprocessing from here, so it is never written down twice.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CARD_FILE = "card.json"
ONNX_FILE = "model.onnx"
ONNX_METADATA_KEY = "deeptrust.card"
# The metrics a card quotes from an evaluation (validation at export, test via `models annotate`).
HEADLINE_METRICS = (
    "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",
    "tpr_at_fpr_1pct", "tpr_at_fpr_5pct", "ece", "n",
)  # fmt: skip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become the network's input.

    ``crop="resize"``: the whole image is resized to ``input_size`` (small-image models, e.g. 32×32).
    ``crop="native"``: ``num_crops`` fixed ``input_size`` crops at native resolution, scores averaged;
    the image is never shrunk, so the generator's pixel traces survive.
    ``crop="grid"``: native-resolution ``input_size`` patches spread evenly over the *whole* image —
    the full tiling when it takes at most ``max_patches``, else a ``max_patches`` grid stratified over
    the image — so a 50 MP photo costs as much as a small one and no region is never looked at.
    ``flip``: each crop is also scored mirrored left-right and the scores averaged (test-time
    augmentation; doubles the inference cost).
    ``aggregate``: how per-patch class probabilities become the image's: ``mean`` (arithmetic),
    ``geomean`` (mean log-probability, renormalised) or ``top_k`` (p_ai: mean of the ``top_k``
    patches with the highest p_ai — one generated region is enough).
    """

    input_size: int
    crop: Literal["resize", "native", "grid"] = "native"
    num_crops: int = 1
    flip: bool = False
    max_patches: int = 8
    aggregate: Literal["mean", "geomean", "top_k"] = "mean"
    top_k: int = 2
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    family: str
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    # Decision threshold on p_ai, chosen on validation data for ``target_fpr``.
    threshold: float = 0.5
    target_fpr: float | None = None
    real_class: str = "REAL"
    # Whether the ONNX graph has a second output with the last convolution's feature map (for CAM).
    has_features: bool = False
    dataset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    base_weights: dict[str, Any] = field(default_factory=dict)
    quantization: str = "none"
    created: str = ""
    description: str = ""
    limitations: tuple[str, ...] = ()
    # What validation traffic looked like (scores, image properties, an embedding summary), for drift
    # monitoring: see deeptrust.monitor.profile. Empty on cards made before it existed.
    drift_profile: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.real_class not in self.class_names:
            raise ValueError(
                f"real_class {self.real_class!r} must be one of the class names {list(self.class_names)}"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")

    @property
    def real_index(self) -> int:
        return self.class_names.index(self.real_class)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        data = dict(data)
        pre = data.pop("preprocessing")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model card fields {unknown}; is this card from a newer deeptrust?")
        pre = Preprocessing(
            **{**pre, "mean": tuple(pre["mean"]), "std": tuple(pre["std"])}  # JSON gives lists
        )
        data["class_names"] = tuple(data["class_names"])
        data["limitations"] = tuple(data.get("limitations", ()))
        return cls(preprocessing=pre, **data)


def save_card(card: ModelCard, directory: Path) -> Path:
    path = Path(directory) / CARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card.to_json() + "\n")
    return path


def card_of_onnx(path: Path) -> ModelCard:
    """The card of a specific ``.onnx`` file: ``card.json`` beside it if there is one, else its metadata."""
    beside = path.parent / CARD_FILE
    return load_card(beside if beside.exists() else path)


def load_card(path: Path) -> ModelCard:
    """Load a card from ``card.json``, a model directory, or the metadata of an ONNX file."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    if path.suffix == ".onnx":
        import onnxruntime as ort

        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
        raw = meta.custom_metadata_map.get(ONNX_METADATA_KEY)
        if raw is None:
            raise ValueError(f"{path} carries no deeptrust model card in its metadata")
        return ModelCard.from_dict(json.loads(raw))
    if not path.exists():
        raise FileNotFoundError(f"no model card at {path}")
    return ModelCard.from_dict(json.loads(path.read_text()))
