"""The scanner's evidence columns: verdict, the rule that decided, the entries as JSON; kept on resume."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from deeptrust.evidence.scan import parse_entries
from deeptrust.scan import ScanOptions, scan_images
from tests.evidence._builders import (
    C2PA_DIR,
    TRUST_BUNDLE,
    created,
    encode,
    picture,
    png_with_text,
    sign_c2pa,
)
from tests.scan.conftest import MODEL

pytestmark = pytest.mark.skipif(not C2PA_DIR.is_dir(), reason="../shared/fixtures/provenance is missing")


def test_scan_rows_carry_verdict_and_evidence(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPTRUST_C2PA_TRUST_ANCHORS", str(TRUST_BUNDLE))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "signed.jpg").write_bytes(
        sign_c2pa(encode(picture(), "JPEG"), "JPEG", actions=created("trainedAlgorithmicMedia"))
    )
    (folder / "a1111.png").write_bytes(
        png_with_text({"parameters": "a cat\nSteps: 20, Sampler: Euler a, Seed: 1"})
    )
    (folder / "plain.png").write_bytes(encode(picture(seed=3), "PNG"))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "scan.csv"
    options = ScanOptions(model=MODEL, progress=False, workers=1, batch_size=2)
    summary = scan_images([str(folder)], out, options)
    assert summary.evidence_verdicts == {"ai (ai-conclusive)": 1, "ai (ai-strong)": 1}
    assert summary.evidence_kinds == {"c2pa": 1, "generator_metadata": 1}
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    by_name = {p.rsplit("/", 1)[-1]: r for p, r in rows.iterrows()}
    assert (by_name["signed.jpg"]["verdict"], by_name["signed.jpg"]["verdict_rule"]) == (
        "ai",
        "ai-conclusive",
    )
    assert by_name["a1111.png"]["verdict_rule"] == "ai-strong"
    [entry] = json.loads(by_name["a1111.png"]["evidence"])
    assert entry["kind"] == "generator_metadata" and set(entry) == {"kind", "signal", "strength", "detail"}
    assert by_name["plain.png"]["verdict_rule"] == "pixels" and by_name["plain.png"]["evidence"] == "[]"
    assert by_name["broken.jpg"]["verdict"] == "" and by_name["broken.jpg"]["error"]
    # a resumed scan keeps the columns (copies of stored rows re-derive their verdict from them)
    scan_images([str(folder)], out, ScanOptions(model=MODEL, progress=False, workers=1, resume=True))
    again = pd.read_csv(out, keep_default_na=False)
    assert len(again) == 4 and sorted(again["verdict_rule"]) == sorted(rows["verdict_rule"])


def test_stored_entries_parse_back_and_junk_reads_as_none():
    text = json.dumps([{"kind": "iptc", "signal": "ai", "strength": "strong", "detail": "d"}])
    assert [e.kind for e in parse_entries(text)] == ["iptc"]
    bad = json.dumps([{"kind": "x", "signal": "maybe", "strength": "strong", "detail": ""}, 3, {"kind": "y"}])
    assert parse_entries(bad) == [] and parse_entries("{not json") == [] and parse_entries("") == []
