"""The known-image reader: a listed photo is found again after resizing and JPEG, an unrelated one is not,
and the service's matcher sees a moderator's confirmation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from deeptrust.evidence.pdq import hash_image
from deeptrust.feedback import FeedbackStore
from deeptrust.hashes.matcher import HashMatcher
from deeptrust.hashes.review import add_reviewed, sync_review
from deeptrust.hashes.store import HashStore

from ..evidence.conftest import read_photos


def jpeg_bytes(img: Image.Image, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_listed_photo_is_matched_after_processing(hash_store: HashStore) -> None:
    photos = read_photos(3)
    listed, other = photos["FAKE"][0], photos["REAL"][1]
    hash_store.add(hash_image(listed).hex, "ai", list_name="partner", note="known fake")
    hash_store.add(hash_image(photos["REAL"][0]).hex, "real", list_name="partner")
    matcher = HashMatcher(hash_store, max_distance=31)
    matcher.refresh(wait=True)
    assert matcher.size == 2
    reupload = Image.open(io.BytesIO(jpeg_bytes(listed.resize((300, 300)), 70)))
    entries = matcher.read(reupload)
    assert [e.kind for e in entries] == ["pdq", "hash_match"]
    match = entries[1]
    assert match.signal == "ai" and match.strength == "strong"
    assert (
        match.data["list"] == "partner"
        and match.data["note"] == "known fake"
        and match.data["distance"] <= 31
    )
    assert [e.kind for e in matcher.read(other)] == ["pdq"]


def test_low_quality_hashes_never_match(hash_store: HashStore) -> None:
    flat = Image.new("RGB", (256, 256), (200, 10, 10))
    pdq = hash_image(flat)
    assert pdq.quality < 50
    hash_store.add(pdq.hex, "ai", list_name="x")
    matcher = HashMatcher(hash_store)
    matcher.refresh(wait=True)
    assert matcher.lookup(pdq) is None


def test_review_decisions_become_entries(tmp_path: Path, hash_store: HashStore) -> None:
    photos = read_photos(2)
    with FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}", tmp_path / "images") as feedback:
        feedback.create_schema()
        items = [
            feedback.add_feedback(
                jpeg_bytes(img), predicted_label="REAL", corrected_label="FAKE", p_ai=0.2, model_version="1"
            )
            for img in (photos["FAKE"][0], photos["REAL"][0])
        ]
        matcher = HashMatcher(hash_store, refresh_s=3600)
        matcher.refresh(wait=True)
        assert matcher.lookup(hash_image(photos["FAKE"][0])) is None
        first = feedback.review(items[0].id, "approve", reviewer="mod")
        assert add_reviewed(hash_store, feedback, first, real_class="REAL") is not None
        matcher.refresh(wait=True)  # what the review route does after a decision
        hit = matcher.lookup(hash_image(photos["FAKE"][0].resize((256, 256))))
        assert hit is not None and hit.label == "ai" and hit.list_name == "review"
        feedback.review(items[1].id, "relabel", label="REAL", reviewer="mod")
        assert sync_review(hash_store, feedback, real_class="REAL") == (2, 0)
        labels = {e.review_item_id: e.label for e in hash_store.entries("review")}
        assert labels == {items[0].id: "ai", items[1].id: "real"}


def test_matcher_without_store_only_hashes() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert [e.kind for e in HashMatcher(None).read(img)] == ["pdq"]


def test_local_additions_match_before_any_reload(hash_store: HashStore) -> None:
    photos = read_photos(2)
    matcher = HashMatcher(hash_store, refresh_s=3600)
    matcher.refresh(wait=True)
    pdq = hash_image(photos["REAL"][1])
    hash_store.add(pdq.hex, "real", list_name="review")
    assert matcher.lookup(pdq) is None  # the index is the old snapshot
    matcher.add_local(pdq.hex, "real", list_name="review", note="n")
    hit = matcher.lookup(hash_image(photos["REAL"][1].resize((256, 256))))
    assert hit is not None and (hit.label, hit.list_name, hit.note) == ("real", "review", "n")
    matcher.refresh(wait=True)  # the reload includes it and drops the local copy
    assert matcher.size == 1 and matcher._recent == []
    assert matcher.lookup(pdq) is not None
