"""deeptrust: tell whether an image is AI-generated, show why, and keep the detector honest."""

import os

# ONNX Runtime 1.29+ sends telemetry from Linux too (its uploader looks up mobile.events.data.microsoft.com
# seconds after the first session): a self-hosted detector of uploads makes no calls home. Set before
# onnxruntime is first imported (ORT latches it); ORT_DISABLE_TELEMETRY=0 in the environment opts back in.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# MLflow 3.x (the registry, on the serving path too) sends usage telemetry unless told not to.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from deeptrust.card import ModelCard, Preprocessing, load_card
from deeptrust.detector import Detector, Prediction

__all__ = ["Detector", "ModelCard", "Prediction", "Preprocessing", "load_card"]
__version__ = "0.1.0"
