"""What the shadow lane is sent: the champion's crops when both cards preprocess alike, else the bytes."""

from __future__ import annotations

import dataclasses

import numpy as np

from deeptrust.card import load_card
from deeptrust.registry import Resolution
from deeptrust.rollout.run import LaneModel
from deeptrust.serve.runtime import Decoded
from deeptrust.settings import BUNDLED_MODELS


class FakeRuntime:
    def __init__(self, card) -> None:
        self.card = card


def decoded_by(card) -> Decoded:
    crops = np.zeros((5, 3, 8, 8), np.float32)
    return Decoded(FakeRuntime(card), "0" * 64, 8, 8, "JPEG", 3, crops, None)  # type: ignore[arg-type]


def test_alike_preprocessing_sends_the_crops_else_the_bytes():
    photos = load_card(BUNDLED_MODELS / "photos-1.0")
    lane = LaneModel(Resolution("photos-1.0", BUNDLED_MODELS / "photos-1.0", "path"), photos)
    same = decoded_by(dataclasses.replace(photos, version="9.9.9"))  # another version, same preprocessing
    assert lane.payload(same, b"jpeg") is same.crops
    other = decoded_by(load_card(BUNDLED_MODELS / "cifake"))
    assert lane.payload(other, b"jpeg") == b"jpeg"
    assert lane.payload(None, b"jpeg") == b"jpeg"
