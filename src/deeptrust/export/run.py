"""``export_run``: a training run directory → a model directory (model.onnx + card.json)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deeptrust.card import HEADLINE_METRICS, ONNX_FILE, ModelCard, save_card
from deeptrust.evaluate.metrics import choose_threshold, compute_metrics
from deeptrust.export.onnx import (
    PARITY_TOLERANCE,
    check_parity,
    embed_card,
    export_onnx,
    onnx_logits,
    quantize_int8,
)
from deeptrust.settings import get_settings
from deeptrust.train.config import TrainConfig
from deeptrust.train.data import augmented_batch, fixed_crops, to_tensor
from deeptrust.train.loop import build_model, prepare_data, preprocessing_of
from deeptrust.train.registry import BASE_WEIGHTS

# INT8 is kept only when validation accuracy drops by less than this (absolute, 0.5 point).
INT8_MAX_ACCURACY_DROP = 0.005


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    card: ModelCard
    parity_max_abs_diff: float
    int8: dict[str, Any] | None


def export_run(
    run_dir: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    version: str = "1.0.0",
    int8: bool = False,
    calibration_images: int = 512,
    description: str = "",
    limitations: tuple[str, ...] = (),
    show: bool = True,
) -> ExportResult:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    ckpt = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = TrainConfig.model_validate(ckpt["config"])
    class_names = ckpt["class_names"]
    model = build_model(config, len(class_names), pretrained=False)
    model.load_state_dict(ckpt["model"])
    model.eval()

    data = prepare_data(config, get_settings(), show)
    pre = preprocessing_of(config)
    val_crops, owner = fixed_crops(data["val"], pre)
    val_x = to_tensor(val_crops, config.input).contiguous().numpy()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", input_size=pre.input_size)
        parity = check_parity(model, fp32, val_x[:256])
        if parity > PARITY_TOLERANCE:
            raise RuntimeError(f"ONNX logits differ from torch by {parity:.2e} > {PARITY_TOLERANCE:.0e}")
        chosen, threshold, int8_info = fp32, summary["threshold"], None
        if int8:
            rng = np.random.default_rng(config.seed)
            idx = rng.choice(
                len(data["train"].labels),
                size=min(calibration_images, len(data["train"].labels)),
                replace=False,
            )
            quiet = config.augment.model_copy(update={"resize_p": 0, "blur_p": 0, "jpeg_p": 0, "hflip": 0})
            calib, _ = augmented_batch(data["train"], idx, quiet, config.input, rng)
            q = quantize_int8(fp32, Path(tmp) / "int8.onnx", calib.contiguous().numpy())
            int8_info = _compare(fp32, q, val_x, owner, data["val"].labels, class_names, config)
            if int8_info["accuracy_drop"] < INT8_MAX_ACCURACY_DROP:
                chosen, threshold = q, int8_info["int8"]["threshold"]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chosen, out_dir / ONNX_FILE)
    card = ModelCard(
        name=name or config.name,
        version=version,
        family=config.model.family,
        class_names=tuple(class_names),
        preprocessing=pre,
        threshold=float(threshold),
        target_fpr=config.target_fpr,
        real_class=config.data.real_class,
        has_features=True,
        dataset=summary["dataset"],
        metrics={"validation": _headline(summary["validation"]), "int8": int8_info},
        training={
            "config": ckpt["config"],
            "best_epoch": summary["best_epoch"],
            "epochs_run": summary["epochs_run"],
            "train_minutes": summary["train_minutes"],
            "mlflow_run_id": summary["mlflow_run_id"],
        },
        base_weights=BASE_WEIGHTS.get(config.model.family, {}) if config.model.pretrained else {},
        quantization="int8-static-qdq" if chosen.name == "int8.onnx" else "none",
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        description=description,
        limitations=limitations,
    )
    card = card.replace(drift_profile=_drift_profile(out_dir, card, data["val"].rows))
    embed_card(out_dir / ONNX_FILE, card)
    save_card(card, out_dir)
    return ExportResult(out_dir, card, parity, int8_info)


def _drift_profile(out_dir: Path, card: ModelCard, val_rows: Any) -> dict[str, Any]:
    """The reference profile for drift monitoring, from the exported graph on the validation images;
    empty (drift then says the card has none) when they cannot give one."""
    from deeptrust.detector import Detector
    from deeptrust.monitor.collect import reference_profile

    paths = val_rows["path"].astype(str).tolist()
    data = {"parts": [{"name": card.dataset.get("name"), "split": "val", "n": len(paths)}]}
    try:
        return reference_profile(Detector(out_dir / ONNX_FILE, card), paths, data=data)
    except ValueError as exc:  # fewer than two readable validation images
        print(f"no drift reference profile: {exc}")
        return {}


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = (*HEADLINE_METRICS, "threshold", "confusion_matrix")
    return {k: metrics[k] for k in keep if k in metrics}


def _compare(fp32: Path, q: Path, x, owner, labels, class_names, config: TrainConfig) -> dict[str, Any]:
    """Validation accuracy of the fp32 and INT8 graphs, each at its own validation-chosen threshold."""
    out: dict[str, Any] = {}
    real = class_names.index(config.data.real_class)
    names = [class_names[i] for i in labels]
    for key, path in (("fp32", fp32), ("int8", q)):
        logits = onnx_logits(path, x)
        e = np.exp(logits - logits.max(1, keepdims=True))
        crop_probs = e / e.sum(1, keepdims=True)
        probs = np.zeros((len(labels), len(class_names)))
        np.add.at(probs, owner, crop_probs)
        probs /= np.bincount(owner)[:, None]
        y_ai = (labels != real).astype(int)
        thr = choose_threshold(y_ai, 1 - probs[:, real], target_fpr=config.target_fpr)
        m = compute_metrics(
            names, probs, class_names=class_names, real_class=config.data.real_class, threshold=thr
        )
        out[key] = {"accuracy": m["accuracy"], "roc_auc": m["roc_auc"], "threshold": thr}
    out["accuracy_drop"] = out["fp32"]["accuracy"] - out["int8"]["accuracy"]
    out["used"] = out["accuracy_drop"] < INT8_MAX_ACCURACY_DROP
    return out
