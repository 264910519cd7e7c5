"""EMA, rotation and masking helpers of the zoo."""

import math

import torch

from ssl_core.losses.mae import patchify
from ssl_core.methods import build_method
from ssl_core.methods.base import ema_momentum, ema_update
from ssl_core.methods.ijepa import ijepa_masks
from ssl_core.methods.rotnet import rotate_all
from ssl_core.methods.sit import gmml_corrupt, unpatchify
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def test_ema_update_and_schedule():
    t, s = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        t.weight.fill_(1.0)
        s.weight.fill_(3.0)
    ema_update(t, s, 0.75)
    torch.testing.assert_close(t.weight, torch.full((2, 2), 0.75 * 1 + 0.25 * 3))
    assert ema_momentum(0.99, 0.0) == 0.99 and ema_momentum(0.99, 1.0) == 1.0
    assert math.isclose(ema_momentum(0.99, 0.5), 0.995)


def test_method_after_step_moves_the_teacher_towards_the_student():
    torch.manual_seed(0)
    m = build_method("byol", build_backbone(TINY_VIT, 32), {"momentum": 0.5})
    with torch.no_grad():
        for p in m.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in m.target_backbone.parameters()]
    m.after_step(0.0)
    for b, t, s in zip(before, m.target_backbone.parameters(), m.backbone.parameters()):
        torch.testing.assert_close(t, 0.5 * b + 0.5 * s)


def test_rotate_all():
    x = torch.arange(4.0).view(1, 1, 2, 2)  # [[0, 1], [2, 3]]
    r, labels = rotate_all(x.expand(2, 1, 2, 2))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    torch.testing.assert_close(r[2, 0], torch.tensor([[1.0, 3.0], [0.0, 2.0]]))  # 90 degrees counter-clockwise
    torch.testing.assert_close(r[4, 0], torch.tensor([[3.0, 2.0], [1.0, 0.0]]))  # 180 degrees


def test_ijepa_masks():
    g = torch.Generator().manual_seed(0)
    ctx, tgt = ijepa_masks(5, (8, 8), n_targets=4, generator=g)
    assert ctx.shape[0] == 5 and tgt.shape[:2] == (5, 4)
    kt = tgt.shape[2]
    assert 0.15 * 64 * 0.6 <= kt <= 0.2 * 64 * 1.5
    for b in range(5):
        targets = set(tgt[b].flatten().tolist())
        assert not targets & set(ctx[b].tolist())  # the context never sees a target patch
        assert len(set(ctx[b].tolist())) == ctx.shape[1]
        for m in range(4):  # each target is a rectangle
            ys, xs = tgt[b, m] // 8, tgt[b, m] % 8
            assert (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) == kt


def test_gmml_corruption_and_unpatchify():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    y, pix = gmml_corrupt(x, 4, 0.5, g)
    assert pix.shape == (4, 1, 16, 16)
    assert torch.equal(y[~pix.expand_as(y)], x[~pix.expand_as(x)])  # clean pixels untouched
    assert (pix.float().mean((1, 2, 3)) == 0.5).all()  # exactly half of the 16 patches in each image
    patches = pix[:, :, ::4, ::4]  # whole patches are corrupted
    torch.testing.assert_close(pix.float(), patches.float().repeat_interleave(4, 2).repeat_interleave(4, 3))
    torch.testing.assert_close(unpatchify(patchify(x, 4), 4, (4, 4)), x)
