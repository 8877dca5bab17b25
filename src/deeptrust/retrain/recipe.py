"""The training config of a retrain: the model's own recipe, with the corrections added as one more dataset.

``<DEEPTRUST_RETRAIN_CONFIG_DIR>/<model>.yaml`` (``configs/`` by default: the shipped recipes) is the
recipe; its data becomes a list of sources (a single ``data.source`` is kept as the first one, imported
under the same name and split as before) and the feedback dataset is appended, all in train: every
split the base data had stays as it was, so the gate's evaluation data does not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deeptrust.retrain.errors import RetrainError
from deeptrust.train.config import TrainConfig, load_config


def recipe_path(model: str, config_dir: Path, explicit: Path | None = None) -> Path:
    path = explicit or Path(config_dir) / f"{model}.yaml"
    if not path.is_file():
        raise RetrainError(
            f"no training recipe for {model!r} at {path}: put its config there (the one `deeptrust train "
            "--config` used), or point DEEPTRUST_RETRAIN_CONFIG_DIR at the folder that has it"
        )
    return path


def with_feedback(
    base: TrainConfig, feedback_dataset: Path, feedback_name: str, out_dir: Path
) -> dict[str, Any]:
    """The retrain's config as a plain mapping (written to YAML beside the run, for the record)."""
    raw = base.model_dump(mode="json", exclude_none=True)
    data = raw["data"]
    sources = data.pop("sources", None) or []
    if not sources:
        sources = [
            {
                "source": data.pop("source"),
                "name": base.name,  # what `deeptrust train` named it, so its import (and split) is reused
                "val_fraction": base.data.val_fraction,
                "test_fraction": base.data.test_fraction,
                "split_seed": base.data.split_seed,
            }
        ]
    data.pop("source", None)
    for key in ("val_fraction", "test_fraction", "split_seed"):
        data.pop(key, None)  # per source now
    data["sources"] = [*sources, {"source": str(feedback_dataset), "name": feedback_name}]
    raw["out_dir"] = str(out_dir)
    return raw


def write_config(raw: dict[str, Any], path: Path) -> TrainConfig:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)
