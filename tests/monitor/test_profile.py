"""The reference profile: built from arrays, carried by the card through JSON, read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deeptrust.card import ModelCard, load_card, save_card
from deeptrust.monitor.profile import OTHER, NoProfileError, Profile, build_profile
from deeptrust.settings import BUNDLED_MODELS


def _profile(n=200, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    props = [
        {
            "width": int(w),
            "height": 64,
            "format": "JPEG",
            "jpeg_quality": 90,
            "mode": "RGB",
            "metadata": "none",
        }
        for w in rng.choice([64, 128, 256], n)
    ]
    return build_profile(rng.random(n), props, rng.standard_normal((n, dim)) * 50 + 1000, data={"n": n})


def test_profile_travels_in_the_card_and_bins_unseen_values_apart(tmp_path):
    card = load_card(BUNDLED_MODELS / "cifake").replace(drift_profile=_profile())
    save_card(card, tmp_path)
    back = load_card(tmp_path)
    assert back.drift_profile == json.loads(json.dumps(card.drift_profile))
    profile = Profile.from_card(back)
    width = profile.signals["width"]
    assert width.counts.sum() == 200
    assert width.code(32) != width.code(64) != width.code(512)  # below and above the reference's range
    assert width.code(512) == len(width.counts) - 1
    fmt = profile.signals["format"]
    assert fmt.categories[-1] == OTHER and fmt.code("PNG") == len(fmt.categories) - 1
    assert profile.embedding is not None and profile.embedding.reference.shape == (200, 8)
    projected = profile.embedding.project(np.random.default_rng(0).standard_normal((5, 32)) * 50 + 1000)
    assert projected.shape == (5, 8)
    # whitened: the reference's own coordinates have about unit variance in every direction
    assert np.allclose(profile.embedding.reference.std(axis=0), 1.0, atol=0.05)


def test_an_old_card_has_no_profile():
    card = load_card(BUNDLED_MODELS / "cifake")
    assert card.drift_profile == {}
    with pytest.raises(NoProfileError):
        Profile.from_card(card)
    raw = json.loads((BUNDLED_MODELS / "cifake" / "card.json").read_text())
    assert "drift_profile" not in raw  # cards written before drift monitoring still load
    assert ModelCard.from_dict(raw).drift_profile == {}


def test_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2"):
        build_profile(np.array([0.5]), [{}], None, data={})


def test_a_damaged_profile_is_reported_not_raised():
    from deeptrust.monitor.windows import DriftMonitor

    card = load_card(BUNDLED_MODELS / "cifake").replace(drift_profile={"version": 99, "signals": {}})
    with pytest.raises(ValueError, match="version 99"):
        Profile.from_card(card)
    monitor = DriftMonitor()
    monitor.observe(card, p_ai=0.5, data=b"not an image")  # never raises on the request path
    state = monitor.state(card.name, card.version)
    assert state.status == "no-profile" and "cannot be read" in state.message
