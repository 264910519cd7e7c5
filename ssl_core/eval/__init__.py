"""Evaluation of frozen features: small pure functions on tensors (no models, no data loading)."""

from ssl_core.eval.baselines import color_position_descriptors, pixel_features
from ssl_core.eval.collapse import effective_rank, embedding_std
from ssl_core.eval.knn import knn_accuracy, knn_predict
from ssl_core.eval.linear import linear_probe

__all__ = [
    "color_position_descriptors",
    "effective_rank",
    "embedding_std",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "pixel_features",
]
