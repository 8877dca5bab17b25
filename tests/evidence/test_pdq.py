"""PDQ hashes of real photos: stable under the processing the measurement says they survive, far apart for
unrelated photos, written as ThreatExchange writes them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deeptrust.evidence import pdq
from deeptrust.hashes.matcher import DEFAULT_MAX_DISTANCE


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


TRANSFORMS = {
    "resize x0.5": lambda img: img.resize((img.width // 2, img.height // 2), Image.Resampling.BICUBIC),
    "resize x2": lambda img: img.resize((img.width * 2, img.height * 2), Image.Resampling.BICUBIC),
    "JPEG q75": lambda img: jpeg(img, 75),
    "crop 1%": lambda img: img.crop((5, 5, img.width, img.height)),
    "resize x0.5 + JPEG q75": lambda img: jpeg(img.resize((img.width // 2, img.height // 2)), 75),
}


def test_hex_is_threatexchanges_order() -> None:
    import pdqhash

    rgb = np.random.default_rng(3).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    vector, quality = pdqhash.compute(rgb)
    expected = f"{int(''.join(map(str, vector)), 2):064x}"  # first bit most significant
    got = pdq.hash_image(Image.fromarray(rgb))
    assert got.hex == expected and got.quality == quality
    assert pdq.words_to_hex(got.words()) == got.hex


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_processed_copies_stay_within_the_match_distance(photos, name: str) -> None:
    for img in photos["REAL"][:4] + photos["FAKE"][:4]:
        original = pdq.hash_image(img)
        processed = pdq.hash_image(TRANSFORMS[name](img))
        assert pdq.distance(original.hex, processed.hex) <= DEFAULT_MAX_DISTANCE, name


def test_unrelated_photos_are_far_apart(photos) -> None:
    hashes = [pdq.hash_image(img).hex for img in photos["REAL"] + photos["FAKE"]]
    closest = min(pdq.distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :])
    assert closest > DEFAULT_MAX_DISTANCE


def test_large_images_are_hashed_downscaled(photos) -> None:
    img = photos["REAL"][0]
    big = img.resize((2048, 2048), Image.Resampling.BICUBIC)
    assert pdq.distance(pdq.hash_image(big).hex, pdq.hash_image(img).hex) <= 16


def test_hex_validation() -> None:
    assert pdq.normalise_hex(" " + "AB" * 32 + "\n") == "ab" * 32
    with pytest.raises(ValueError, match="64 hex digits, got 3"):
        pdq.normalise_hex("abc")
    with pytest.raises(ValueError, match="hex digits 0-9a-f only"):
        pdq.normalise_hex("zz" * 32)


def test_reader_entry(photos) -> None:
    entry = pdq.to_evidence(pdq.hash_image(np.asarray(photos["REAL"][0])))
    assert entry.kind == "pdq" and entry.signal == "none"
    assert len(entry.data["hash"]) == 64 and 0 <= entry.data["quality"] <= 100
