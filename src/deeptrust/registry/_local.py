"""Model directories on the search paths: each holds ``model.onnx`` and ``card.json``, named by its folder."""

from __future__ import annotations

import logging
import re
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
