"""Checkpoint → ONNX (logits + last-convolution features for CAM), parity-checked against torch,
optionally INT8-quantized, with the model card in the file's metadata and beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from deeptrust.card import ONNX_METADATA_KEY, ModelCard

# Largest acceptable |torch − ONNX| on logits for an fp32 export; beyond it the export is refused.
PARITY_TOLERANCE = 1e-3


class _WithFeatures(nn.Module):
    """Exports both outputs the service needs: class logits, and the feature map for CAM."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(image)
        return self.model.forward_head(feats), feats


def export_onnx(model: nn.Module, path: Path, *, input_size: int, opset: int = 17) -> Path:
    model = model.eval().float().to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(1, 3, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        _WithFeatures(model),
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["logits", "features"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    onnx.checker.check_model(str(path))
    return path


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(path: Path, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    sess = session(path)
    return np.concatenate(
        [sess.run(["logits"], {"image": x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)]
    )


def check_parity(model: nn.Module, path: Path, x: np.ndarray) -> float:
    """Max |logit difference| between torch (fp32) and ONNX Runtime on the same inputs."""
    with torch.no_grad():
        expected = model.eval().float()(torch.from_numpy(x)).numpy()
    return float(np.abs(expected - onnx_logits(path, x)).max())


class _Calibration:
    """ONNX Runtime calibration reader over a fixed array of preprocessed training crops."""

    def __init__(self, x: np.ndarray, batch_size: int = 32):
        self.batches = iter([x[i : i + batch_size] for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"image": batch}


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> Path:
    """Static INT8 quantization (QDQ, per-channel weights) calibrated on training crops."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out_path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32_path), str(prepared))
    quantize_static(
        str(prepared),
        str(out_path),
        _Calibration(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    prepared.unlink(missing_ok=True)
    return out_path


def embed_card(path: Path, card: ModelCard) -> None:
    """Write the card into the ONNX file's metadata, so the weights never travel without it."""
    model = onnx.load(str(path))
    for prop in list(model.metadata_props):
        if prop.key == ONNX_METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(card.to_dict())
    model.producer_name = "deeptrust"
    onnx.save(model, str(path))
