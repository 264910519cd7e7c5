import numpy as np
import pytest
import torch

from ssl_core.analysis.attribution import METHODS, SimilarityTarget, attribute
from ssl_core.analysis.similarity import (
    extract_patch_features,
    model_input,
    prompt_vectors,
)
from ssl_core.errors import UserError
from ssl_core.models import build_backbone


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return build_backbone("vit:dim=32,depth=2,heads=2,patch=8", 32).eval()


IMG = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_map_of_the_image(vit, method):
    a = attribute(vit, IMG, [(5, 5)], method, size=32, steps=4)
    assert a.shape == (24, 40) and np.isfinite(a).all() and np.abs(a).sum() > 0


def test_target_is_the_mean_region_similarity(vit):
    f = extract_patch_features(vit, IMG, size=32)
    p = torch.from_numpy(prompt_vectors(f, [(5, 5)])[0])
    w = torch.zeros(f.frame.grid)
    w[0, 0] = 1  # the region is the clicked patch itself: similarity 1
    t = SimilarityTarget(vit, p, w)
    with torch.no_grad():
        assert t(model_input(IMG, f.frame)).item() == pytest.approx(1.0, abs=1e-5)


def test_grad_cam_on_an_earlier_block_and_on_keys(vit):
    assert attribute(vit, IMG, [(5, 5)], "gradcam", size=32, cam_layer=0).shape == (24, 40)
    assert attribute(vit, IMG, [(5, 5)], "gradcam", size=32, feature="keys").shape == (24, 40)


def test_attribution_refusals(vit):
    with pytest.raises(UserError, match="click a patch first"):
        attribute(vit, IMG, [], "occlusion", size=32)
    with pytest.raises(UserError, match="unknown attribution method"):
        attribute(vit, IMG, [(1, 1)], "lime", size=32)
    with pytest.raises(UserError, match="region is empty"):
        attribute(vit, IMG, [(1, 1)], "occlusion", region=np.zeros((24, 40), bool), size=32)
