"""Retrain fixtures: reviewed corrections in the feedback store, a recipe folder, API keys per role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deeptrust.feedback import FeedbackStore

from ..serve.conftest import jpeg_bytes, server_factory  # noqa: F401  (server_factory: a fixture)
from ..web.conftest import bearer, keys  # noqa: F401  (keys: a fixture)

__all__ = ["bearer"]


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    """DEEPTRUST_RETRAIN_CONFIG_DIR with a recipe for cifake (only its existence is checked here)."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "cifake.yaml").write_text("name: cifake\ndata: {source: nowhere}\n")
    return folder


@pytest.fixture
def add_reviewed(isolated_home: Path) -> Callable[..., list[int]]:
    """``add_reviewed(n, model=...)``: n flags of distinct images, each relabelled by a moderator."""

    def add(n: int, *, model: str = "cifake", seed: int = 0, url: str | None = None) -> list[int]:
        url = url or f"sqlite:///{isolated_home / 'deeptrust.db'}"
        with FeedbackStore(url, isolated_home / "feedback" / "images") as store:
            store.create_schema()
            ids = []
            for i in range(n):
                item = store.add_feedback(
                    jpeg_bytes(32, seed=seed * 1000 + i), predicted_label="FAKE", corrected_label="REAL",
                    p_ai=0.9, model_name=model, model_version="1.0.0", who=f"user{seed}-{i}",
                )  # fmt: skip
                store.review(item.id, "approve", reviewer="mod")
                ids.append(item.id)
        return ids

    return add
