"""Find trained models by name: each model is a directory holding ``model.onnx`` and ``card.json``."""

from __future__ import annotations

from pathlib import Path

from deeptrust.card import CARD_FILE, ONNX_FILE, ModelCard, load_card
from deeptrust.settings import get_settings


def iter_models(paths: list[Path] | None = None) -> list[tuple[Path, ModelCard]]:
    """Every model directory under the search paths, first occurrence of a name wins."""
    seen: dict[str, tuple[Path, ModelCard]] = {}
    for root in paths if paths is not None else get_settings().model_paths:
        if not Path(root).is_dir():
            continue
        for card_path in sorted(Path(root).glob(f"*/{CARD_FILE}")):
            if not (card_path.parent / ONNX_FILE).exists():
                continue
            card = load_card(card_path)
            seen.setdefault(card_path.parent.name, (card_path.parent, card))
    return list(seen.values())


def resolve_model(name_or_path: str | Path, paths: list[Path] | None = None) -> Path:
    """A registered name, a model directory or an ``.onnx`` file → the model directory."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".onnx" and candidate.exists():
        return candidate.parent
    if candidate.is_dir() and (candidate / ONNX_FILE).exists():
        return candidate
    for directory, _ in iter_models(paths):
        if directory.name == str(name_or_path):
            return directory
    known = ", ".join(d.name for d, _ in iter_models(paths)) or "none"
    raise FileNotFoundError(
        f"no model named or at {str(name_or_path)!r}; known models: {known} "
        "(a model is a directory with model.onnx and card.json)"
    )
