"""Mixed Barlow Twins against a re-implementation of the official training step (wgcban/mix-bt, main.py)."""

import numpy as np
import torch
import torch.nn.functional as F

from ssl_core.methods import build_method
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def off_diagonal(x):
    n, m = x.shape
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def mix_bt_step(net, pos_1, pos_2, index, alpha, lmbda, mixup_loss_scale):
    """main.py's train(): net(x) returns F.normalize(g(f(x))); each view is its own forward pass."""
    batch_size = len(pos_1)
    out_1, out_2 = net(pos_1), net(pos_2)
    out_1_norm = (out_1 - out_1.mean(dim=0)) / out_1.std(dim=0)
    out_2_norm = (out_2 - out_2.mean(dim=0)) / out_2.std(dim=0)
    c = torch.matmul(out_1_norm.T, out_2_norm) / batch_size
    on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
    off_diag = off_diagonal(c).pow_(2).sum()
    loss_bt = on_diag + lmbda * off_diag
    pos_m = alpha * pos_1 + (1 - alpha) * pos_2[index, :]
    out_m = net(pos_m)
    out_m_norm = (out_m - out_m.mean(dim=0)) / out_m.std(dim=0)
    cc_m_1 = torch.matmul(out_m_norm.T, out_1_norm) / batch_size
    cc_m_1_gt = alpha * torch.matmul(out_1_norm.T, out_1_norm) / batch_size + \
        (1 - alpha) * torch.matmul(out_2_norm[index, :].T, out_1_norm) / batch_size
    cc_m_2 = torch.matmul(out_m_norm.T, out_2_norm) / batch_size
    cc_m_2_gt = alpha * torch.matmul(out_1_norm.T, out_2_norm) / batch_size + \
        (1 - alpha) * torch.matmul(out_2_norm[index, :].T, out_2_norm) / batch_size
    loss_mix = mixup_loss_scale * lmbda * ((cc_m_1 - cc_m_1_gt).pow_(2).sum() + (cc_m_2 - cc_m_2_gt).pow_(2).sum())
    return loss_bt, loss_mix


def test_mixbt_loss_matches_the_official_step(shapes_batch):
    torch.manual_seed(0)
    m = build_method("mixbt", build_backbone(TINY_VIT, 32), {"proj_dim": 64})
    out = m({"images": shapes_batch}, torch.Generator().manual_seed(1))
    # The same draws, in the method's order: both views, then alpha and the permutation.
    g = torch.Generator().manual_seed(1)
    x1, x2 = (m.augment(shapes_batch, v, g) for v in m.views.values())
    alpha = float(torch.rand((), generator=g))
    index = torch.randperm(len(shapes_batch), generator=g)
    net = lambda x: F.normalize(m.projector(m.backbone(x)), dim=-1)  # noqa: E731 (model.py's forward)
    bt, mix = mix_bt_step(net, x1, x2, index, alpha, 1 / 128, 4.0)
    assert np.isclose(out.logs["bt_loss"], bt.item(), rtol=1e-5)
    assert np.isclose(out.logs["mix_reg"], mix.item(), rtol=1e-5)
    torch.testing.assert_close(out.loss, bt + mix, rtol=1e-5, atol=1e-6)


def test_mixbt_views_are_one_recipe_without_blur_or_solarisation():
    from ssl_core.methods.barlow_twins import MixedBarlowTwins

    for size in (32, 96):
        v1, v2 = MixedBarlowTwins.view_configs(size).values()
        assert v1 == v2 and v1.blur_p == 0 and v1.solarize_p == 0 and v1.saturation == 0.4


def test_barlow_twins_projects_each_view_on_its_own(shapes_batch):
    # facebookresearch/barlowtwins, main.py: z1 = projector(backbone(y1)), z2 = projector(backbone(y2)), then
    # c = bn(z1).T @ bn(z2) / N with BatchNorm1d(affine=False).
    torch.manual_seed(0)
    m = build_method("barlowtwins", build_backbone(TINY_VIT, 32), {"proj_dim": 64, "proj_hidden": 64})
    out = m({"images": shapes_batch}, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    y1, y2 = (m.augment(shapes_batch, v, g) for v in m.views.values())
    z1, z2 = m.projector(m.backbone(y1)), m.projector(m.backbone(y2))
    bn = torch.nn.BatchNorm1d(64, affine=False)
    c = bn(z1).T @ bn(z2) / len(z1)
    expected = (torch.diagonal(c) - 1).pow(2).sum() + 5e-3 * off_diagonal(c).pow(2).sum()
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
