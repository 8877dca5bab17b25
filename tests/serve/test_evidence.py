"""Every answer carries evidence and the fused verdict: predict, batch, explain (JSON and PNG), metrics."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from deeptrust.serve.app import create_app
from tests.evidence._builders import C2PA_DIR, TRUST_BUNDLE, created, encode, picture, sign_c2pa
from tests.serve.conftest import jpeg_bytes, make_settings

pytestmark = pytest.mark.skipif(not C2PA_DIR.is_dir(), reason="../shared/fixtures/provenance is missing")


@pytest.fixture(scope="module")
def generated() -> bytes:
    """A photo-like picture whose signed credentials say a generative model made it."""
    return sign_c2pa(encode(picture(96, 96), "JPEG"), "JPEG", actions=created("trainedAlgorithmicMedia"))


@pytest.fixture
def client():
    with TestClient(create_app(make_settings(c2pa_trust_anchors=str(TRUST_BUNDLE)))) as c:
        yield c


def test_predict_fuses_credentials_with_the_pixels(client, generated):
    body = client.post("/v1/predict", files={"file": ("g.jpg", generated, "image/jpeg")}).json()
    [entry] = body["evidence"]
    assert (entry["kind"], entry["signal"], entry["strength"]) == ("c2pa", "ai", "conclusive")
    assert entry["data"]["state"] == "Trusted" and entry["data"]["signer"] == "C2PA Test Signing Cert"
    assert body["verdict"]["label"] == "ai" and body["verdict"]["rule"] == "ai-conclusive"
    plain = client.post(
        "/v1/predict", files={"file": ("p.jpg", encode(picture(96, 96), "JPEG"), "image/jpeg")}
    )
    assert plain.json()["p_ai"] == pytest.approx(body["p_ai"], abs=0.05)  # p_ai stays the pixel model's
    assert plain.json()["evidence"] == [] and plain.json()["verdict"]["basis"] == "pixels"
    assert "evidence" in body["timings_ms"]


def test_batch_and_explain_carry_it_too(client, generated):
    files = [
        ("files", ("g.jpg", generated, "image/jpeg")),
        ("files", ("p.jpg", jpeg_bytes(64), "image/jpeg")),
    ]
    results = client.post("/v1/predict/batch", files=files).json()["results"]
    assert [r["result"]["verdict"]["rule"] for r in results] == ["ai-conclusive", "pixels"]
    explained = client.post("/v1/explain", files={"file": ("g.jpg", generated, "image/jpeg")}).json()
    assert explained["verdict"]["label"] == "ai" and explained["evidence"][0]["kind"] == "c2pa"
    png = client.post(
        "/v1/explain", files={"file": ("g.jpg", generated, "image/jpeg")}, headers={"Accept": "image/png"}
    )
    assert png.headers["x-deeptrust-verdict"] == "ai"


def test_metrics_count_evidence_kinds_and_verdicts(client, generated):
    client.post("/v1/predict", files={"file": ("g.jpg", generated, "image/jpeg")})
    client.post("/v1/predict", files={"file": ("p.jpg", jpeg_bytes(64), "image/jpeg")})
    text = client.get("/metrics").text
    assert 'deeptrust_evidence_total{kind="c2pa",signal="ai",strength="conclusive"} 1.0' in text
    assert 'deeptrust_verdicts_total{label="ai",rule="ai-conclusive"} 1.0' in text
    assert re.search(r'deeptrust_verdicts_total\{label="(ai|real)",rule="pixels"\} 1.0', text)


def test_evidence_can_be_switched_off(generated):
    with TestClient(create_app(make_settings(evidence=False))) as c:
        body = c.post("/v1/predict", files={"file": ("g.jpg", generated, "image/jpeg")}).json()
    assert body["evidence"] == [] and body["verdict"]["rule"] == "pixels"


def test_a_bad_trust_bundle_stops_the_start(tmp_path):
    app = create_app(make_settings(c2pa_trust_anchors=str(tmp_path / "nope.pem")))
    with pytest.raises(ValueError, match="DEEPTRUST_C2PA_TRUST_ANCHORS"), TestClient(app):
        pass
