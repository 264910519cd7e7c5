"""DINO's mass threshold and attention rollout on hand-made cases, and the maps of a real ViT."""

import numpy as np
import pytest
import torch

from ssl_core.analysis import attention as att
from ssl_core.errors import UserError
from ssl_core.models import build_backbone


def test_mass_threshold_keeps_the_smallest_set_holding_the_mass():
    a = np.array([[0.5, 0.2], [0.2, 0.1]])
    assert att.mass_threshold(a, 0.6).tolist() == [[True, True], [False, False]] or \
        att.mass_threshold(a, 0.6).tolist() == [[True, False], [True, False]]  # 0.5 + one of the 0.2s
    assert att.mass_threshold(a, 0.6).sum() == 2
    assert att.mass_threshold(a, 0.5).tolist() == [[True, False], [False, False]]
    assert att.mass_threshold(a, 0.95).sum() == 4
    # unnormalised weights, several heads at once
    heads = np.stack([a * 7, np.array([[0.0, 0.0], [0.0, 3.0]])])
    m = att.mass_threshold(heads, 0.6)
    assert m.shape == (2, 2, 2) and m[0].sum() == 2 and m[1].tolist() == [[False, False], [False, True]]
    with pytest.raises(UserError, match="DINO uses 0.6"):
        att.mass_threshold(a, 0)


def test_mass_inside_is_the_kept_attention_on_the_object():
    a = np.array([[0.5, 0.2], [0.2, 0.1]])  # 0.6 of the mass: 0.5 and one 0.2
    assert att.mass_inside(a, np.array([[1.0, 1.0], [1.0, 0.0]])) == pytest.approx(1.0)
    assert att.mass_inside(a, np.array([[0.0, 0.0], [0.0, 1.0]])) == 0.0  # the object holds only dropped attention
    assert att.mass_inside(a, np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5 / 0.7)
    uniform = np.full((2, 4, 4), 1 / 16)
    half = np.zeros((4, 4))
    half[:, :2] = 1
    assert att.mass_inside(uniform, half, mass=1.0) == pytest.approx(0.5)  # uniform attention: the object's area
    heads = np.stack([a, np.array([[0.0, 0.0], [0.0, 1.0]])])
    assert att.mass_inside(heads, np.array([[1.0, 1.0], [1.0, 0.0]])) == pytest.approx(0.5)  # the mean over maps


def test_rollout_hand_case():
    # one layer, one head, 2 tokens: CLS attends only to the patch
    a = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    r = att.rollout([a])
    # (A + I) rows renormalised: [[0.5, 0.5], [0, 1]]
    assert torch.allclose(r[0], torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    r2 = att.rollout([a, a])
    assert torch.allclose(r2[0], torch.tensor([[0.25, 0.75], [0.0, 1.0]]))
    # heads are averaged before the identity is added
    two = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    assert torch.allclose(att.rollout([two])[0, 0], torch.tensor([0.75, 0.25]))


def test_image_attention_of_a_vit():
    torch.manual_seed(0)
    model = build_backbone("vit:dim=32,depth=2,heads=4,patch=8,reg=2", 32).eval()
    img = (np.random.default_rng(0).random((48, 40, 3)) * 255).astype(np.uint8)
    out = att.image_attention(model, img, size=32)
    rows, cols = out["frame"].grid
    assert out["heads"].shape == (4, rows, cols) and out["rollout"].shape == (rows, cols)
    # registers are dropped: the patch weights of a head sum to less than 1, and are positive
    assert (out["heads"] > 0).all() and (out["heads"].sum((1, 2)) < 1 + 1e-5).all()
    assert out["masks"].dtype == bool and out["masks"].any(axis=(1, 2)).all()


def test_resnet_has_no_attention():
    with pytest.raises(UserError, match="need a ViT"):
        att.image_attention(build_backbone("resnet18", 32), np.zeros((32, 32, 3), np.uint8))
