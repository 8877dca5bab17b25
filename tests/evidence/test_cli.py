"""``deeptrust evidence``: entries per file, the fused verdict with --model, usage errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deeptrust.cli import app
from deeptrust.settings import get_settings
from tests.evidence._builders import C2PA_DIR, png_with_text

pytestmark = pytest.mark.skipif(not C2PA_DIR.is_dir(), reason="../shared/fixtures/provenance is missing")
runner = CliRunner()


def test_json_with_a_model_gives_the_verdict(tmp_path):
    a1111 = tmp_path / "a.png"
    a1111.write_bytes(png_with_text({"parameters": "fox\nSteps: 20, Sampler: Euler a, Seed: 1"}))
    (tmp_path / "notes.txt").write_text("not an image")
    paths = [str(C2PA_DIR / "ocsp.jpg"), str(a1111), str(tmp_path / "notes.txt")]
    result = runner.invoke(app, ["evidence", *paths, "--model", "cifake", "--json"])
    assert result.exit_code == 0, result.output
    ocsp, png, notes = (json.loads(line) for line in result.output.splitlines())
    assert (
        ocsp["verdict"]["rule"] == "ai-conclusive" and ocsp["evidence"][0]["data"]["signer"] == "Adobe Inc."
    )
    assert 0 <= ocsp["p_ai"] <= 1 and ocsp["label"] in ("FAKE", "REAL")
    assert png["verdict"]["rule"] == "ai-strong" and png["evidence"][0]["data"]["tool"].startswith(
        "AUTOMATIC1111"
    )
    assert notes["error"].startswith("unsupported_format") and "verdict" not in notes


def test_table_without_a_model():
    result = runner.invoke(app, ["evidence", str(C2PA_DIR / "adobe-20220124-E-dat-CA.jpg")])
    assert result.exit_code == 0 and "tampered" in result.output and "dataHash" in result.output


def test_usage_errors(tmp_path, monkeypatch):
    assert runner.invoke(app, ["evidence", str(tmp_path / "missing.jpg")]).exit_code == 2
    monkeypatch.setenv("DEEPTRUST_C2PA_TRUST_ANCHORS", str(tmp_path / "missing.pem"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["evidence", str(C2PA_DIR / "C.jpg")])
    assert result.exit_code == 2 and "DEEPTRUST_C2PA_TRUST_ANCHORS" in result.output
