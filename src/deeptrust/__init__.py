"""deeptrust: tell whether an image is AI-generated, show why, and keep the detector honest."""

from deeptrust.card import ModelCard, Preprocessing, load_card
from deeptrust.detector import Detector, Prediction

__all__ = ["Detector", "ModelCard", "Prediction", "Preprocessing", "load_card"]
__version__ = "0.1.0"
