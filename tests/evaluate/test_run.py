from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deeptrust.card import ONNX_FILE
from deeptrust.detector import Detector
from deeptrust.evaluate.robustness import PERTURBATIONS
from deeptrust.evaluate.run import (
    DataError,
    evaluate_model,
    public_result,
    stratified_sample,
    write_json,
)

TOP_LEVEL = {
    # the metrics
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "tpr_at_fpr_1pct",
    "tpr_at_fpr_5pct",
    "ece",
    "n",
    "false_positive_rate",
    "threshold",
    "confusion_matrix",
    "class_names",
    # the sections
    "model",
    "data",
    "per_source",
    "by_source",
    "subsets",
    "robustness",
    "worst_errors",
    "errors",
}


@pytest.fixture(scope="module")
def result(detector: Detector, image_manifest: pd.DataFrame) -> dict:
    return evaluate_model(detector, image_manifest, robustness_limit=12, batch_size=8, progress=False)


def test_result_shape_and_json(result: dict, tmp_path: Path) -> None:
    assert set(public_result(result)) == TOP_LEVEL
    written = json.loads(write_json(result, tmp_path / "out" / "m.json").read_text())
    assert set(written) == TOP_LEVEL  # _scores dropped
    assert written["model"]["name"] == "tiny" and written["model"]["threshold"] == 0.5
    assert written["data"]["split"] == "test" and written["data"]["leaks"] > 0


def test_scores_the_test_split_like_the_detector(
    result: dict, detector: Detector, image_manifest: pd.DataFrame
) -> None:
    test = image_manifest[image_manifest["split"] == "test"]
    assert result["n"] == len(test) == 32
    assert result["errors"] == []
    expected = [p.p_ai for p in detector.predict(test["path"].tolist())]
    np.testing.assert_allclose(result["_scores"]["p_ai"], expected, rtol=1e-5, atol=1e-6)
    assert result["_scores"]["y_ai"].tolist() == (test["label"] == "FAKE").tolist()
    # The model separates the classes except for the planted mistakes.
    assert 0.8 < result["accuracy"] < 1.0 and result["roc_auc"] > 0.8


def test_per_source_and_leak_free_subset(result: dict, image_manifest: pd.DataFrame) -> None:
    assert set(result["per_source"]) == {"camera", "gen_a", "gen_b"}
    assert sum(m["n"] for m in result["per_source"].values()) == result["n"]
    assert result["per_source"]["gen_a"]["roc_auc"] is None  # one class: null, not a crash
    without = result["subsets"]["without_leaks"]
    test = image_manifest[image_manifest["split"] == "test"]
    assert without["n"] == int((~test["leak"]).sum()) < result["n"]


def test_by_source_tells_each_source_apart_from_the_other_class(result: dict) -> None:
    by = result["by_source"]
    assert set(by) == {"camera", "gen_a", "gen_b"}
    assert by["camera"]["label"] == "REAL" and by["gen_a"]["label"] == "AI"
    assert "false_positive_rate" in by["camera"] and "recall" in by["gen_a"]
    # the FPR/TPR of a one-class source are the share called AI at the card's threshold
    p_ai, labels = result["_scores"]["p_ai"], result["_scores"]["labels"]
    assert sum(m["n"] for m in by.values()) == result["n"]
    real = [p for p, lab in zip(p_ai, labels, strict=True) if lab == "REAL"]
    assert by["camera"]["false_positive_rate"] == np.mean(np.asarray(real) >= 0.5)
    assert 0.5 < by["gen_a"]["roc_auc"] <= 1.0


def test_robustness_on_a_stated_sample(result: dict) -> None:
    robustness = result["robustness"]
    assert list(robustness) == ["clean", *PERTURBATIONS]
    for summary in robustness.values():
        assert summary["n"] == 12
        assert set(summary["mean_p_ai"]) == {"FAKE", "REAL"}
        assert {"accuracy", "roc_auc", "tpr_at_fpr_5pct"} <= set(summary)


def test_worst_errors_are_confident_mistakes(result: dict, detector: Detector) -> None:
    worst = result["worst_errors"]
    assert 0 < len(worst) <= 16
    confidence = [w["p_ai"] if w["predicted"] == "FAKE" else 1 - w["p_ai"] for w in worst]
    assert confidence == sorted(confidence, reverse=True)
    for w in worst:
        assert w["predicted"] != w["label"]
        assert detector.predict([w["path"]])[0].label == w["predicted"]


def test_unreadable_images_are_listed_not_raised(
    detector: Detector, image_manifest: pd.DataFrame, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    extra = pd.DataFrame(
        [
            {"path": str(broken), "label": "REAL", "split": "test", "source": "", "leak": False},
            {"path": str(tmp_path / "gone.png"), "label": "FAKE", "split": "test"},
        ]
    )
    manifest = pd.concat([image_manifest, extra], ignore_index=True)
    out = evaluate_model(detector, manifest, robustness=False, progress=False)
    assert out["n"] == 32 and out["data"]["rows"] == 34 and out["data"]["unreadable"] == 2
    assert {e["path"] for e in out["errors"]} == {str(broken), str(tmp_path / "gone.png")}
    assert "robustness" not in out


def test_no_sections_without_sources_or_leaks(detector: Detector, image_manifest: pd.DataFrame) -> None:
    plain = image_manifest[["path", "label", "split"]]
    out = evaluate_model(detector, plain, split=None, robustness=False, progress=False)
    assert out["n"] == len(image_manifest)
    assert "per_source" not in out and "subsets" not in out


def test_limit_takes_a_stratified_seeded_sample(detector: Detector, image_manifest: pd.DataFrame) -> None:
    runs = [
        evaluate_model(detector, image_manifest, limit=10, robustness=False, progress=False) for _ in range(2)
    ]
    assert runs[0]["n"] == 10 and runs[0]["data"]["labels"] == {"FAKE": 5, "REAL": 5}
    assert runs[0]["_scores"]["paths"] == runs[1]["_scores"]["paths"]


def test_threshold_comes_from_the_card(detector: Detector, image_manifest: pd.DataFrame) -> None:
    strict = Detector(detector.path, detector.card.replace(threshold=0.99), threads=1)
    out = evaluate_model(strict, image_manifest, robustness=False, progress=False)
    assert out["threshold"] == 0.99 and out["recall"] == 0.0 and out["precision"] is None


def test_clear_errors_for_bad_requests(detector: Detector, image_manifest: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="available splits: test, val"):
        evaluate_model(detector, image_manifest, split="holdout", progress=False)
    relabelled = image_manifest.assign(label=image_manifest["label"].str.lower())
    with pytest.raises(DataError, match="share no name"):
        evaluate_model(detector, relabelled, progress=False)
    with pytest.raises(DataError, match="lacks the columns"):
        evaluate_model(detector, image_manifest.drop(columns=["label"]), progress=False)


def test_stratified_sample() -> None:
    labels = pd.Series(["A"] * 900 + ["B"] * 100)
    picked = stratified_sample(labels, 100, seed=3)
    assert len(picked) == 100 and len(set(picked)) == 100
    assert list(picked) == sorted(picked)
    assert labels.iloc[picked].value_counts().to_dict() == {"A": 90, "B": 10}
    assert np.array_equal(picked, stratified_sample(labels, 100, seed=3))
    assert not np.array_equal(picked, stratified_sample(labels, 100, seed=4))
    assert len(stratified_sample(labels, None)) == 1000


def test_model_directory_fixture_is_loadable(tiny_model_dir: Path) -> None:
    assert (tiny_model_dir / ONNX_FILE).exists()
    assert Detector.load(tiny_model_dir).card.name == "tiny"
