"""``deeptrust feedback list|export|purge`` against the store the settings point at."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.feedback import FeedbackStore
from deeptrust.settings import get_settings

from .conftest import image_bytes
from .test_store import backdate

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def settings_store(db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEEPTRUST_DATABASE_URL", db_url)
    get_settings.cache_clear()
    with FeedbackStore.from_settings() as store:
        store.create_schema()
        yield store
    get_settings.cache_clear()


def test_list_export_and_purge(settings_store: FeedbackStore, tmp_path: Path) -> None:
    store = settings_store
    flagged = store.add_feedback(
        image_bytes(1), predicted_label="FAKE", corrected_label="REAL", p_ai=0.91, model_version="1.2",
        model_name="photos", who="alice",
    )  # fmt: skip
    store.add_borderline(
        image_bytes(2), predicted_label="REAL", p_ai=0.47, threshold=0.5, model_name="photos",
        model_version="1.2",
    )  # fmt: skip

    listed = runner.invoke(app, ["feedback", "list"])
    assert listed.exit_code == 0, listed.output
    assert "Review items (pending): 2 of 2" in listed.output
    assert "flag" in listed.output and "borderline" in listed.output and "0.910" in listed.output
    assert listed.output.index("flag") < listed.output.index("borderline")
    bad = runner.invoke(app, ["feedback", "list", "--status", "done"])
    assert bad.exit_code == 2 and "status must be one of pending, approved, relabelled" in bad.output

    store.review(flagged.id, "approve", reviewer="mod")
    reviewed = runner.invoke(app, ["feedback", "list", "--status", "all"])
    assert "approved" in reviewed.output and "REAL" in reviewed.output

    folder = runner.invoke(app, ["feedback", "export", str(tmp_path / "out")])
    assert folder.exit_code == 0, folder.output
    assert "Exported 1 images" in folder.output and "REAL: 1" in folder.output
    assert len(list((tmp_path / "out" / "REAL").iterdir())) == 1
    again = runner.invoke(app, ["feedback", "export", str(tmp_path / "out")])
    assert again.exit_code == 2 and "not empty" in again.output
    tar = runner.invoke(app, ["feedback", "export", str(tmp_path / "fb.tar.gz"), "--tar"])
    assert tar.exit_code == 0 and (tmp_path / "fb.tar.gz").stat().st_size > 0

    backdate(store, flagged.id, 400)
    purged = runner.invoke(app, ["feedback", "purge"])  # default retention: 365 days
    assert purged.exit_code == 0 and "Purged 1 items and 1 images older than 365 days" in purged.output
    keep = runner.invoke(app, ["feedback", "purge", "--older-than-days", "0"])
    assert "keep forever" in keep.output and "0 image files" in keep.output and store.count(None) == 1
