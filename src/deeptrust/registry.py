"""Find trained models by name: each model is a directory holding ``model.onnx`` and ``card.json``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from deeptrust.card import CARD_FILE, ONNX_FILE, ModelCard, load_card
from deeptrust.settings import get_settings

log = logging.getLogger("deeptrust.registry")
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a directory name under a search path


class ModelNotAllowedError(ValueError):
    """A model reference that points outside the directories models may be loaded from."""


def iter_models(paths: list[Path] | None = None) -> list[tuple[Path, ModelCard]]:
    """Every model directory under the search paths, first occurrence of a name wins."""
    seen: dict[str, tuple[Path, ModelCard]] = {}
    for root in paths if paths is not None else get_settings().model_paths:
        if not Path(root).is_dir():
            continue
        for card_path in sorted(Path(root).glob(f"*/{CARD_FILE}")):
            if not (card_path.parent / ONNX_FILE).exists():
                continue
            try:
                card = load_card(card_path)
            except (OSError, ValueError, TypeError) as exc:  # one broken card must not hide the others
                log.warning("skipping %s: unreadable model card (%s)", card_path.parent, exc)
                continue
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


def resolve_trusted(reference: str, *, paths: list[Path], allow_dirs: Sequence[Path] = ()) -> str:
    """What the service may load for ``reference``: a model name found under ``paths``, or the resolved
    path of a model directory (or its ``.onnx``) inside ``paths`` or ``allow_dirs``. Anything else raises:
    a caller of the API must not make the server load a file placed elsewhere.
    """
    if MODEL_NAME.fullmatch(reference):
        known = [directory.name for directory, _ in iter_models(paths)]
        if reference in known:
            return reference
        raise FileNotFoundError(f"no model named {reference!r}; known models: {', '.join(known) or 'none'}")
    candidate = Path(reference).expanduser().resolve()  # symlinks followed: the real file must be inside
    if not any(candidate.is_relative_to(Path(root).resolve()) for root in [*paths, *allow_dirs]):
        raise ModelNotAllowedError(
            f"{reference!r} is outside the model search paths: load a model by name (`deeptrust models "
            "list`), or list its directory in DEEPTRUST_RELOAD_ALLOW_DIRS"
        )
    if not ((candidate / ONNX_FILE).is_file() or (candidate.suffix == ".onnx" and candidate.is_file())):
        raise FileNotFoundError(f"no model at {reference!r} (a directory with model.onnx and card.json)")
    return str(candidate)
