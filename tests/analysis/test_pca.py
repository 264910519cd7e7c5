import numpy as np
import pytest

from ssl_core.analysis.pca import patch_pca
from ssl_core.errors import UserError


def _grid(seed=0):
    """An object (a 3x3 block of patches) whose features differ from the background's along one axis."""
    rng = np.random.default_rng(seed)
    g = rng.normal(0, 0.1, (8, 8, 16)).astype(np.float32)
    g[2:5, 3:6, 0] += 5
    return g


def test_first_component_separates_the_object_and_flips():
    out = patch_pca([_grid()])
    fg = out["foreground"][0]
    obj = np.zeros((8, 8), bool)
    obj[2:5, 3:6] = True
    assert (fg == obj).all()  # the smaller side is foreground by default
    assert (patch_pca([_grid()], flip=True)["foreground"][0] == ~obj).all()
    rgb = out["rgb"][0]
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8 and (rgb[~obj] == 0).all()


def test_several_images_share_one_pca():
    out = patch_pca([_grid(0), _grid(1)[:6]])
    assert [r.shape for r in out["rgb"]] == [(8, 8, 3), (6, 8, 3)]
    assert out["foreground"][1][2:5, 3:6].all()
    assert patch_pca([_grid()], background=False)["foreground"][0].all()


def test_pca_refusals():
    with pytest.raises(UserError, match="at least one image"):
        patch_pca([])
    with pytest.raises(UserError, match="different feature sizes"):
        patch_pca([np.zeros((2, 2, 4)), np.zeros((2, 2, 5))])
