from __future__ import annotations

import pandas as pd

from deeptrust.data.shortcuts import score_shortcuts


def _manifest(rows: list[dict]) -> pd.DataFrame:
    defaults = {
        "format": "JPEG",
        "width": 32,
        "height": 32,
        "mode": "RGB",
        "exif": False,
        "jpeg_quality": 90,
        "qtable_hash": "aaa",
        "bytes": 1000,
    }
    return pd.DataFrame([{**defaults, **row} for row in rows])


def _scores(result: dict) -> dict[str, dict]:
    return {entry["property"]: entry for entry in result["properties"]}


def test_format_that_separates_the_classes_warns() -> None:
    rows = [{"label": "REAL", "format": "PNG", "jpeg_quality": -1, "qtable_hash": ""}] * 20
    rows += [{"label": "FAKE"}] * 20
    result = score_shortcuts(_manifest(rows))
    scores = _scores(result)
    assert scores["format"]["score"] == 1.0 and scores["format"]["baseline"] == 0.5
    assert scores["format"]["warn"] and scores["jpeg_quality"]["warn"]
    assert scores["dimensions"]["constant"] and not scores["dimensions"]["warn"]
    assert not scores["bytes"]["warn"] and scores["bytes"]["score"] == 0.5
    assert len(result["warnings"]) == 3  # format, jpeg_quality, qtable_hash
    assert result["warnings"][0].startswith("format alone predicts the label (accuracy 1.00 vs 0.50")


def test_balanced_properties_do_not_warn() -> None:
    rows = []
    for label in ("REAL", "FAKE"):
        for i in range(20):
            png = i % 2 == 0
            rows.append(
                {
                    "label": label,
                    "format": "PNG" if png else "JPEG",
                    "width": 32 + i % 4,
                    "exif": i % 3 == 0,
                    "bytes": 1000 + i,
                }
            )
    result = score_shortcuts(_manifest(rows))
    assert result["warnings"] == []
    scores = _scores(result)
    assert scores["format"]["score"] <= 0.5
    assert scores["bytes"]["score"] == 0.5  # identical distributions
    assert len(scores) == 8


def test_file_size_separates_the_classes() -> None:
    rows = [{"label": "REAL", "bytes": 1000 + i} for i in range(10)]
    rows += [{"label": "FAKE", "bytes": 1005 + i * 3} for i in range(10)]
    scores = _scores(score_shortcuts(_manifest(rows)))
    assert scores["bytes"]["metric"] == "auc"
    assert 0.8 <= scores["bytes"]["score"] < 1.0 and scores["bytes"]["warn"]
    assert scores["bytes"]["medians"] == {"FAKE": 1018.5, "REAL": 1004.5}


def test_unique_values_do_not_score_by_memorising() -> None:
    rows = [{"label": "REAL" if i % 2 else "FAKE", "width": 100 + i} for i in range(40)]
    scores = _scores(score_shortcuts(_manifest(rows)))
    assert scores["dimensions"]["distinct"] == 40 and not scores["dimensions"]["warn"]


def test_one_label_has_nothing_to_separate() -> None:
    result = score_shortcuts(_manifest([{"label": "REAL"}] * 3))
    assert result["properties"] == [] and "fewer than two labels" in result["note"]
