"""app/clickable_image.py: which images' masks the browser draws itself (the rest wait for the server)."""

import numpy as np

from app import clickable_image as ci
from ssl_core.analysis.similarity import PatchFeatures, make_frame


def feats(size: int, patch: int, dim: int) -> PatchFeatures:
    frame = make_frame(640, 480, patch, size)
    return PatchFeatures(np.ones((*frame.grid, dim), np.float32), frame)


def test_the_preview_is_sent_where_the_features_fit_and_not_beyond():
    assert ci.previews(feats(224, 16, 192))  # the shipped ViT at the photo size: 74 KB
    assert ci.previews(feats(448, 16, 384))  # a ViT-S/16 at 448 px: 588 KB
    assert not ci.previews(feats(448, 16, 768))  # a ViT-B/16 at 448 px: 1.2 MB, left to the server
