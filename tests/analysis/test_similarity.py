"""Click-to-patch mapping under resizing and padding, threshold rules, negative clicks that only remove."""

import numpy as np
import pytest
import torch

from ssl_core.analysis import similarity as sim
from ssl_core.errors import UserError
from ssl_core.models import build_backbone


def test_frame_keeps_area_and_rounds_to_patches():
    f = sim.make_frame(315, 232, 16, 224)
    assert f.pw % 16 == 0 and f.ph % 16 == 0 and (f.pw, f.ph) == (f.rw, f.rh)
    assert abs(f.pw * f.ph - 224 * 224) < 40 * 224  # about the model's own number of patches
    assert abs(f.pw / f.ph - 315 / 232) < 0.1


def test_click_to_patch_under_resizing():
    f = sim.Frame(width=100, height=50, rw=200, rh=100, pw=200, ph=100, patch=20)  # everything doubled
    assert f.grid == (5, 10)
    assert f.patch_of(0, 0) == (0, 0)
    assert f.patch_of(9.9, 9.9) == (0, 0)  # pixel 9 -> 18..20 in the input: patch 0
    assert f.patch_of(10, 0) == (0, 1)  # pixel 10 -> 20..22: patch 1
    assert f.patch_of(99, 49) == (4, 9)
    for r in range(5):
        for c in range(10):
            assert f.patch_of(*f.patch_centre(r, c)) == (r, c)  # centres round-trip


def test_click_to_patch_under_padding():
    f = sim.make_frame(50, 30, 16, 40, pad=True)
    assert f.rw < f.pw or f.rh < f.ph  # padding happened
    assert f.pw % 16 == 0 and f.ph % 16 == 0
    rows, cols = f.content_grid
    # the bottom-right pixel lies in the last patch that holds image content, never in pure padding
    assert f.patch_of(49, 29) == (rows - 1, cols - 1)
    assert f.patch_of(49, 29)[1] == (f.rw - 1) // 16
    assert f.grid_fraction(np.ones((30, 50), bool))[-1, -1] < 1  # the padded corner patch is partly empty
    up = f.to_image(np.ones(f.grid))
    assert up.shape == (30, 50)


def test_clicks_outside_the_image_are_refused():
    f = sim.make_frame(100, 80, 16, 64)
    for x, y in [(-1, 5), (100, 5), (5, 80), (1e9, 0)]:
        with pytest.raises(UserError, match="outside the 100x80 image"):
            f.patch_of(x, y)


def test_images_smaller_than_a_patch_are_refused():
    model = build_backbone("vit:dim=32,depth=1,heads=2,patch=16", 32).eval()
    with pytest.raises(UserError, match="smaller than one 16 px patch"):
        sim.extract_patch_features(model, np.zeros((10, 40, 3), np.uint8))


def test_otsu_matches_scikit_image_and_splits_two_modes():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0.1, 0.05, 500), rng.normal(0.8, 0.05, 300)])
    assert sim.otsu_threshold(v) == pytest.approx(threshold_otsu(v), abs=(v.max() - v.min()) / 256)  # one bin
    t = sim.otsu_threshold(v)
    assert (v[:500] > t).mean() < 0.01 and (v[500:] > t).all()  # splits the two modes
    assert sim.otsu_threshold(np.full(10, 0.3)) == pytest.approx(0.3)


def test_threshold_rules():
    score = np.array([[0.1, 0.4], [0.6, 0.9]])
    mask, t = sim.decide(score, None, 0.5)
    assert t == 0.5 and mask.tolist() == [[False, False], [True, True]]
    mask, t = sim.decide(score, None, "otsu")
    assert mask.sum() == 2 and 0.1 <= t < 0.6
    with pytest.raises(UserError, match="neither a number nor 'otsu'"):
        sim.decide(score, None, "high")
    with pytest.raises(UserError, match="outside -1..1"):
        sim.parse_threshold("2")


def _feats(grid: np.ndarray) -> sim.PatchFeatures:
    h, w = grid.shape[:2]
    return sim.PatchFeatures(grid, sim.Frame(w * 4, h * 4, w * 4, h * 4, w * 4, h * 4, 4))


def test_max_over_positive_clicks_and_negatives_only_remove():
    # a 1x3 grid of unit features: left = e0, middle = e1, right = between e0 and e1
    g = np.array([[[1, 0], [0, 1], [0.9, 0.44]]], np.float32)
    f = _feats(g)
    one = sim.segment(f, [(2, 2)], threshold=0.85)  # click the left patch
    assert one.mask[0, 0] and not one.mask[0, 6] and one.patches == [(0, 0)]
    two = sim.segment(f, [(2, 2), (6, 2)], threshold=0.85)  # and the middle one: max over the two maps
    assert two.mask[2, 6] and np.allclose(two.positive, np.maximum(one.positive, sim.similarity_map(
        f, sim.prompt_vectors(f, [(6, 2)]))))
    # positive on the left, negative on the middle: the threshold still decides, the right patch stays
    pn = sim.segment(f, [(2, 2)], [(6, 2)], threshold=0.85)
    assert pn.threshold == 0.85 and pn.mask[2, 0] and pn.mask[2, 11] and not pn.mask[2, 6]
    # the same negative on the right instead: the right patch is nearer it, so it leaves the mask
    pn2 = sim.segment(f, [(2, 2)], [(10, 2)], threshold=0.85)
    assert pn2.mask[2, 0] and not pn2.mask[2, 11] and pn2.removed > 0
    # a low threshold: the old nearest-prototype rule ignored it; now it is the same mask as without the
    # negative, less what the negative takes away, never more
    low = sim.segment(f, [(2, 2)], threshold=-0.5)
    low_neg = sim.segment(f, [(2, 2)], [(6, 2)], threshold=-0.5)
    assert low.mask.all() and not (low_neg.mask & ~low.mask).any() and not low_neg.mask[2, 6]
    assert low_neg.removed == pytest.approx(1 - low_neg.mask.mean())


def test_negatives_never_add_pixels_under_any_rule():
    rng = np.random.default_rng(0)
    f = _feats(rng.normal(size=(6, 8, 16)).astype(np.float32))
    removed = []
    for t in ("otsu", -0.2, 0.0, 0.3):
        plain = sim.segment(f, [(5, 5), (20, 9)], [], t)
        with_neg = sim.segment(f, [(5, 5), (20, 9)], [(30, 20), (2, 22)], t)
        assert with_neg.threshold == plain.threshold  # the threshold is the positive map's, with or without
        assert not (with_neg.mask & ~plain.mask).any()
        assert with_neg.removed == pytest.approx(plain.mask.mean() - with_neg.mask.mean())
        removed.append(with_neg.removed)
    assert max(removed) > 0


def test_suggested_input_size():
    meta = {"arch": {"img_size": 128}}
    assert sim.suggested_size(meta, 854, 480) == 224  # a photograph: more, smaller patches
    assert sim.suggested_size(meta, 96, 64) == 128  # no larger than the training size: the training size
    assert sim.suggested_size({"arch": {"img_size": 320}}, 854, 480) == 320  # never below it
    assert sim.suggested_size({**meta, "recommended_size": 448}, 854, 480) == 448  # the checkpoint's own word


def test_no_positive_click_is_a_clear_error():
    with pytest.raises(UserError, match="at least one positive point"):
        sim.segment(_feats(np.ones((2, 2, 3), np.float32)), [], [(1, 1)])


def test_extract_tokens_and_keys_of_any_layer():
    torch.manual_seed(0)
    model = build_backbone("vit:dim=32,depth=3,heads=2,patch=8", 32).eval()
    img = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    f = sim.extract_patch_features(model, img, size=32)
    assert f.grid.shape[:2] == f.frame.grid and f.grid.shape[2] == 32
    assert np.allclose(np.linalg.norm(f.unit, axis=-1), 1, atol=1e-5)
    x = sim.model_input(img, f.frame)
    with torch.no_grad():
        expect = model.forward_intermediates(x)[0]["patch"][0].numpy()
    assert np.allclose(f.grid, expect, atol=1e-5)
    k = sim.extract_patch_features(model, img, size=32, layer=1, feature="keys")
    assert k.grid.shape == f.grid.shape
    with torch.no_grad():  # block 1's keys of patch 0 by hand: the qkv projection of its normalised input
        tokens = model.forward_intermediates(x, [0])[0]["tokens"]
        blk = model.blocks[1]
        keys = blk.attn.qkv(blk.norm1(tokens))[0, 1, 32:64]
    assert np.allclose(k.grid[0, 0], keys.numpy(), atol=1e-5)
    with pytest.raises(UserError, match="layer 5 does not exist"):
        sim.extract_patch_features(model, img, layer=5)


def test_parse_point():
    assert sim.parse_point("12,7.5") == (12.0, 7.5)
    with pytest.raises(UserError, match="not X,Y"):
        sim.parse_point("12;7")
