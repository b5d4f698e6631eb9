"""Inference with a model bundle: ``Predictor.load("model").predict(paths_or_arrays)``."""

from fraclab.predict.bundle import BundleError
from fraclab.predict.predictor import Box, Prediction, Predictor

__all__ = ["Box", "BundleError", "Prediction", "Predictor"]
