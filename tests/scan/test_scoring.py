"""Scoring: bytes → outcome with the Detector, errors with their ImageError reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.scan.scoring import decode_one, score_batch, sniff_format


def jpeg(colour=(200, 30, 30), size=(40, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_score_batch_matches_detector_predict(detector):
    images = [jpeg(), jpeg((10, 200, 10)), jpeg((0, 0, 0), (64, 64))]
    outcomes = score_batch(detector, images)
    expected = detector.predict(images)
    for outcome, pred in zip(outcomes, expected, strict=True):
        assert (outcome.width, outcome.height, outcome.format) == (pred.width, pred.height, "JPEG")
        assert outcome.probs == pytest.approx(tuple(pred.scores.values()), abs=1e-6)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (jpeg()[:120], "corrupt_image"),
        (b"%PDF-1.7 not an image", "unsupported_format"),
        (b"", "unsupported_format"),
    ],
)
def test_bad_bytes_become_error_outcomes_with_the_image_error_reason(detector, data, reason):
    crops, outcome = decode_one(detector, data)
    assert crops is None and outcome.probs is None
    assert outcome.error.startswith(f"{reason}: ")


def test_too_many_pixels_is_an_error(detector):
    from deeptrust import Detector

    small_cap = Detector.load(detector.path, threads=1, max_pixels=100)
    _, outcome = decode_one(small_cap, jpeg(size=(40, 40)))
    assert outcome.error.startswith("too_many_pixels: ")


def test_errors_pass_through_a_batch_with_good_images(detector):
    outcomes = score_batch(detector, [b"junk", jpeg(), jpeg()[:100]])
    assert [bool(o.error) for o in outcomes] == [True, False, True]
    assert np.isclose(sum(outcomes[1].probs), 1.0)
    assert sniff_format(jpeg()) == "JPEG" and sniff_format(b"junk") == ""
