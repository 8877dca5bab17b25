"""The HTML report: a histogram drawn with Pillow and thumbnails re-read from their sources."""

from __future__ import annotations

import base64
import io

from PIL import Image

from deeptrust.scan.report import histogram_png, render_report
from deeptrust.scan.summary import Summary


def test_histogram_is_a_png():
    png = base64.b64decode(histogram_png([0, 3, 10] + [1] * 17, threshold=0.4))
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_inputs_that_can_no_longer_be_read_are_listed_without_a_thumbnail(detector, store, tmp_path):
    summary = Summary(model="cifake 1.0.0", threshold=0.5)
    summary.add({"path": str(store / "FAKE" / "fake_000.jpg"), "label": "FAKE", "p_ai": 0.99, "error": ""})
    summary.add({"path": str(tmp_path / "deleted.jpg"), "label": "FAKE", "p_ai": 0.98, "error": ""})
    page = render_report(summary, detector=detector, max_bytes=10**6)
    assert page.count('src="data:image/png;base64,') == 2  # the histogram and one thumbnail
    assert "(no longer readable)" in page and "deleted.jpg" in page
    empty = render_report(Summary(), detector=detector, max_bytes=10**6)
    assert "No image was labelled AI-generated." in empty
