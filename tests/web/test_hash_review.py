"""A moderator's decision on the page joins the known-image lists at once: the next upload of the same
picture, resized and recompressed, is matched and decided by it (deeptrust.hashes.review.on_review)."""

from __future__ import annotations

import io

from PIL import Image

from ..evidence.conftest import read_photos
from .conftest import bearer
from .test_routes import send_feedback


def jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_a_confirmed_image_is_caught_when_uploaded_again(app_factory, keys) -> None:
    photo = read_photos(1)["FAKE"][0]
    client = app_factory()
    flagged = send_feedback(
        client, keys["user"], jpeg(photo, 95), predicted_label="REAL", corrected_label="FAKE", p_ai="0.2"
    )
    assert flagged.status_code in (200, 201), flagged.text
    item_id = flagged.json()["id"]
    before = client.post(
        "/v1/predict",
        files={"file": ("r.jpg", jpeg(photo.resize((300, 300)), 70), "image/jpeg")},
        headers=bearer(keys["user"]),
    ).json()
    assert [e["kind"] for e in before["evidence"] if e["kind"] == "hash_match"] == []
    assert len(before["pdq"]) == 64
    reviewed = client.post(
        f"/v1/review/{item_id}", json={"action": "approve"}, headers=bearer(keys["moderator"])
    )
    assert reviewed.status_code == 200, reviewed.text
    after = client.post(
        "/v1/predict",
        files={"file": ("r.jpg", jpeg(photo.resize((300, 300)), 70), "image/jpeg")},
        headers=bearer(keys["user"]),
    ).json()
    [match] = [e for e in after["evidence"] if e["kind"] == "hash_match"]
    assert (match["signal"], match["strength"], match["data"]["list"]) == ("ai", "conclusive", "review")
    assert after["verdict"]["label"] == "ai" and after["verdict"]["rule"] == "ai-conclusive"
    assert after["pdq"] == before["pdq"]
    # and a cropped copy (8 % off the bottom) through the decision's crop variants
    cropped = client.post(
        "/v1/predict",
        files={"file": ("c.jpg", jpeg(photo.crop((0, 0, 512, 471)), 85), "image/jpeg")},
        headers=bearer(keys["user"]),
    ).json()
    [via_crop] = [e for e in cropped["evidence"] if e["kind"] == "hash_match"]
    assert (via_crop["data"]["crop"], via_crop["data"]["list"]) == ("7 % off the bottom", "review")
    assert via_crop["data"]["hash"] == match["data"]["hash"]  # the listed entry, not the crop's hash
    assert cropped["verdict"]["label"] == "ai" and match["data"]["crop"] is None
