"""The summary: counts by label and error reason, the histogram, the top AI scores, the table."""

from __future__ import annotations

from rich.console import Console

from deeptrust.scan.summary import HISTOGRAM_BINS, TOP_AI, Summary, summary_table


def row(path, *, label="FAKE", p_ai=0.9, error=""):
    return {"path": path, "label": "" if error else label, "p_ai": None if error else p_ai, "error": error}


def test_counts_histogram_and_most_confident_ai():
    summary = Summary(model="m 1", threshold=0.5)
    for i in range(TOP_AI + 5):
        summary.add(row(f"ai{i}.jpg", p_ai=0.5 + i / 100))
    summary.add(row("real.jpg", label="REAL", p_ai=0.0), resumed=True)
    summary.add(row("bad.jpg", error="corrupt_image: truncated"))
    assert summary.rows == TOP_AI + 7 and summary.resumed == 1 and summary.scanned == TOP_AI + 6
    assert summary.labels == {"FAKE": TOP_AI + 5, "REAL": 1} and summary.errors == {"corrupt_image": 1}
    assert sum(summary.histogram) == TOP_AI + 6 and summary.histogram[0] == 1
    assert len(summary.histogram) == HISTOGRAM_BINS
    top = summary.most_confident_ai()
    assert len(top) == TOP_AI and top[0] == (0.5 + (TOP_AI + 4) / 100, f"ai{TOP_AI + 4}.jpg")


def test_table_shows_labels_errors_duplicates_and_rate():
    summary = Summary(model="cifake 1.0.0", threshold=0.577, duplicates=3, seconds=2.0)
    for i in range(4):
        summary.add(row(f"{i}.jpg"))
    summary.add(row("x", error="unsupported_format: pdf"))
    console = Console(width=100, record=True)
    console.print(summary_table(summary))
    text = console.export_text()
    for expected in ("label FAKE", "error unsupported_format", "duplicates (scored once)", "2.5/s in 2.0 s"):
        assert expected in text
    assert summary.as_dict()["images_per_s"] == 2.5
