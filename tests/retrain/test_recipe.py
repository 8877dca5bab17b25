"""A retrain's config: the model's recipe with the corrections appended as one more dataset, the base
data imported under the name and split it had, every other setting as the recipe says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deeptrust.retrain.errors import RetrainError
from deeptrust.retrain.recipe import recipe_path, with_feedback, write_config
from deeptrust.train.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_a_single_source_recipe_keeps_its_import_and_gains_the_feedback(tmp_path: Path) -> None:
    base = load_config(REPO / "configs" / "cifake.yaml")
    raw = with_feedback(base, tmp_path / "fb", "cifake-feedback-job3", tmp_path / "run")
    cfg = write_config(raw, tmp_path / "config.yaml")
    first, feedback = cfg.data.sources
    assert (first.source, first.name, first.val_fraction, first.test_fraction) == (
        base.data.source,
        "cifake",
        0.1,
        0.0,
    )
    assert (feedback.source, feedback.name) == (str(tmp_path / "fb"), "cifake-feedback-job3")
    assert cfg.optim == base.optim and cfg.input == base.input and cfg.name == "cifake"
    assert cfg.out_dir == tmp_path / "run"
    assert (
        yaml.safe_load((tmp_path / "config.yaml").read_text())["data"]["sources"][1]["name"] == feedback.name
    )


def test_a_combined_recipe_appends_the_feedback(tmp_path: Path) -> None:
    base = load_config(REPO / "configs" / "photos.yaml")
    cfg = write_config(
        with_feedback(base, tmp_path / "fb", "photos-feedback-job1", tmp_path / "run"), tmp_path / "c.yaml"
    )
    assert [s.name for s in cfg.data.sources] == ["multigen", "photos-1.0-data", "photos-feedback-job1"]
    assert cfg.data.sources[:2] == base.data.sources and cfg.probe == base.probe


def test_a_model_without_a_recipe_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        RetrainError, match=r"no training recipe for 'nope' at .*nope.yaml.*DEEPTRUST_RETRAIN_CONFIG_DIR"
    ):
        recipe_path("nope", tmp_path)
    assert recipe_path("cifake", REPO / "configs") == REPO / "configs" / "cifake.yaml"
