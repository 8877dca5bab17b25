import json

import numpy as np
import onnx
import pytest
from PIL import Image

from deeptrust import Detector, load_card
from deeptrust.card import ONNX_METADATA_KEY
from deeptrust.export.run import export_run
from deeptrust.train.config import load_config
from deeptrust.train.loop import train
from tests.train.test_loop import write_config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    import deeptrust.settings
    from tests.conftest import make_image_folder

    tmp = tmp_path_factory.mktemp("export")
    mp = pytest.MonkeyPatch()
    mp.setenv("DEEPTRUST_HOME", str(tmp / "home"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    deeptrust.settings.get_settings.cache_clear()
    folder = make_image_folder(tmp / "data", per_class=24, size=48)
    cfg = write_config(
        tmp,
        folder,
        epochs=3,
        input={"size": 32, "crop": "native", "num_crops": 5, "mean": [0.5] * 3, "std": [0.25] * 3},
    )
    run = train(load_config(cfg), show=False)
    yield tmp, run, folder
    mp.undo()
    deeptrust.settings.get_settings.cache_clear()


def test_export_writes_onnx_with_card_and_matches_torch(trained_run):
    tmp, run, _ = trained_run
    result = export_run(run, tmp / "models" / "tiny", version="0.0.1", show=False)
    assert result.parity_max_abs_diff < 1e-3
    card = load_card(tmp / "models" / "tiny")
    assert card == load_card(tmp / "models" / "tiny" / "model.onnx")  # metadata copy is identical
    assert card.preprocessing.crop == "native" and card.preprocessing.num_crops == 5
    assert card.threshold == json.loads((run / "summary.json").read_text())["threshold"]
    assert card.has_features and card.version == "0.0.1"
    meta = {p.key for p in onnx.load(str(tmp / "models" / "tiny" / "model.onnx")).metadata_props}
    assert ONNX_METADATA_KEY in meta


def test_detector_takes_preprocessing_from_the_card(trained_run):
    tmp, run, folder = trained_run
    export_run(run, tmp / "models" / "tiny", show=False)
    detector = Detector.load(tmp / "models" / "tiny")
    real = sorted((folder / "REAL").glob("*.jpg"))[:4]
    fake = sorted((folder / "FAKE").glob("*.jpg"))[:4]
    preds = detector.predict(real + fake)
    assert [p.width for p in preds] == [48] * 8
    assert sum(p.label == "REAL" for p in preds[:4]) >= 3
    assert sum(p.label == "FAKE" for p in preds[4:]) >= 3
    for p in preds:
        assert abs(sum(p.scores.values()) - 1) < 1e-5
        assert p.p_ai == pytest.approx(1 - p.scores["REAL"], abs=1e-6)
    # The same image as bytes, path or PIL object gives the same answer.
    raw = real[0].read_bytes()
    probs = detector.predict_proba([raw, real[0], Image.open(real[0])])
    assert np.allclose(probs[0], probs[1]) and np.allclose(probs[0], probs[2])


def test_int8_export_is_kept_only_when_accuracy_holds(trained_run):
    tmp, run, _ = trained_run
    result = export_run(run, tmp / "models" / "tiny8", int8=True, calibration_images=32, show=False)
    info = result.int8
    assert set(info) >= {"fp32", "int8", "accuracy_drop", "used"}
    assert info["used"] == (info["accuracy_drop"] < 0.005)
    assert result.card.quantization == ("int8-static-qdq" if info["used"] else "none")
    probs = Detector.load(tmp / "models" / "tiny8").predict_proba([Image.new("RGB", (48, 48))])
    assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0, atol=1e-5)


def test_export_attaches_a_drift_reference_profile_of_the_validation_images(trained_run):
    from deeptrust.monitor.profile import Profile

    tmp, run, _ = trained_run
    export_run(run, tmp / "models" / "profiled", show=False)
    card = load_card(tmp / "models" / "profiled")
    n_val = json.loads((run / "summary.json").read_text())["dataset"]["n"]["val"]
    assert card.drift_profile["n"] == n_val and card.drift_profile["data"]["parts"][0]["split"] == "val"
    profile = Profile.from_card(card)
    assert profile.signals["width"].counts.sum() == n_val
    assert profile.embedding is not None and profile.embedding.dim == card_features(
        tmp / "models" / "profiled"
    )
    assert load_card(tmp / "models" / "profiled" / "model.onnx").drift_profile == card.drift_profile


def card_features(model_dir) -> int:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return next(o.shape[1] for o in session.get_outputs() if o.name == "features")


def test_export_registers_a_new_version_each_time(trained_run):
    from typer.testing import CliRunner

    from deeptrust.cli import app
    from deeptrust.registry import Store

    tmp, run, _ = trained_run
    args = ["export", "--run", str(run), "--out", str(tmp / "models" / "cli"), "--name", "tiny-cli"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and "registered tiny-cli version 1" in first.output, first.output
    second = CliRunner().invoke(app, [*args, "--alias", "challenger"])
    assert "registered tiny-cli version 2 (@challenger)" in second.output, second.output
    info = Store().version("tiny-cli", 2)
    card = load_card(tmp / "models" / "cli")
    assert info.aliases == ("challenger",) and info.tag("dataset.hash") == card.dataset["hash"]
    assert info.tag("training.mlflow_run_id") == card.training["mlflow_run_id"]
    refused = CliRunner().invoke(app, [*args, "--alias", "champion"])
    assert refused.exit_code == 2 and "promote" in refused.output
