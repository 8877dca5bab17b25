from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from deeptrust.detector import Detector
from deeptrust.evaluate.report import write_report
from deeptrust.evaluate.run import evaluate_model, public_result

SECTIONS = (
    "Summary",
    "Plots",
    "Subsets",
    "Per source",
    "By source",
    "Robustness",
    "Worst errors",
    "Unreadable images",
)
FIGURES = ("ROC curve", "Precision-recall curve", "Reliability diagram", "Confusion matrix")


@pytest.fixture(scope="module")
def result(detector: Detector, image_manifest: pd.DataFrame, tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    gone = str(tmp_path_factory.mktemp("gone") / "gone.png")
    extra = pd.DataFrame([{"path": gone, "label": "REAL", "split": "test"}])
    manifest = pd.concat([image_manifest, extra], ignore_index=True)
    return evaluate_model(detector, manifest, robustness_limit=8, batch_size=16, progress=False)


def test_report_is_self_contained_with_every_section(result: dict, tmp_path: Path) -> None:
    page = write_report(result, tmp_path / "r" / "report.html").read_text()
    for section in SECTIONS:
        assert f"<h2>{section}" in page
    for figure in FIGURES:
        assert f'alt="{figure}"' in page
    assert '<img src="data:image/png;base64,' in page
    assert '<img src="data:image/jpeg;base64,' in page  # worst-error thumbnails
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing loaded from outside
    for name in ("gen_a", "gen_b", "camera", "without_leaks", "jpeg50", "centre_crop"):
        assert name in page


def test_inlined_images_decode(result: dict, tmp_path: Path) -> None:
    page = write_report(result, tmp_path / "report.html").read_text()
    payloads = re.findall(r'data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)"', page)
    assert len(payloads) >= 4 + len(result["worst_errors"])
    for payload in payloads:
        Image.open(io.BytesIO(base64.b64decode(payload))).verify()


def test_one_class_data_still_reports(
    detector: Detector, image_manifest: pd.DataFrame, tmp_path: Path
) -> None:
    fakes = image_manifest[image_manifest["label"] == "FAKE"]
    out = evaluate_model(detector, fakes, robustness=False, progress=False)
    page = write_report(out, tmp_path / "one.html").read_text()
    assert "ROC curve: not defined on one class" in page
    assert 'alt="Confusion matrix"' in page


def test_json_round_trip_cannot_be_reported(result: dict, tmp_path: Path) -> None:
    reloaded = json.loads(json.dumps(public_result(result)))
    with pytest.raises(ValueError, match="_scores"):
        write_report(reloaded, tmp_path / "x.html")


def test_text_is_escaped(result: dict, tmp_path: Path) -> None:
    hostile = {**result, "per_source": {"<script>alert(1)</script>": result["per_source"]["gen_a"]}}
    page = write_report(hostile, tmp_path / "esc.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
