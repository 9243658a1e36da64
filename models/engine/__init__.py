"""The engine: load a model, record its exact attention (weights, scores, q/k/v), export it."""

from models.engine.capture import AttentionCapture, CaptureError, capture_image, capture_text
from models.engine.loading import LoadedModel, ModelLoadError, load_model

__all__ = ["AttentionCapture", "CaptureError", "LoadedModel", "ModelLoadError", "capture_image", "capture_text",
           "load_model"]
