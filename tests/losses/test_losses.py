import math

import torch

from ssl_core.losses import dino_loss, mae_loss, nt_xent
from ssl_core.losses.dino import update_center
from ssl_core.losses.mae import patchify


def test_nt_xent_by_hand():
    # Two images, embeddings already unit length: z1 = [a, b], z2 = [a, b].
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z1, z2 = torch.stack([a, b]), torch.stack([a, b])
    t = 0.5
    # Anchor a (view 1): positive a (sim 1), negatives b, b (sim 0); same for every anchor by symmetry.
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert math.isclose(nt_xent(z1, z2, t).item(), expected, rel_tol=1e-6)


def test_nt_xent_scale_invariant_and_gradient_pulls_positives():
    z1 = torch.randn(8, 16, requires_grad=True)
    z2 = torch.randn(8, 16)
    loss = nt_xent(z1, z2, 0.2)
    assert torch.isclose(loss, nt_xent(3 * z1, z2, 0.2))
    loss.backward()
    with torch.no_grad():
        better = nt_xent(z1 - 0.1 * z1.grad, z2, 0.2)
    assert better < loss


def test_dino_loss_by_hand():
    s = [torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[0.0, 0.0]])]
    t = [torch.tensor([[0.0, 0.0]]), torch.tensor([[100.0, 0.0]])]
    center = torch.zeros(1, 2)
    # Pairs (t0, s1): uniform vs uniform = log 2; (t1, s0): one-hot on class 0 vs p_s = [1/4, 3/4] = log 4.
    expected = (math.log(2) + math.log(4)) / 2
    loss = dino_loss(s, t, center, student_temp=1.0, teacher_temp=1.0)
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_dino_centering_update():
    c = torch.zeros(1, 2)
    update_center(c, [torch.tensor([[1.0, 3.0]]), torch.tensor([[3.0, 5.0]])], momentum=0.9)
    torch.testing.assert_close(c, torch.tensor([[0.2, 0.4]]))


def test_mae_loss_only_masked_patches_count():
    target = torch.rand(2, 4, 12)
    pred = target.clone()
    pred[:, 0] += 1.0  # wrong only on patch 0
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0]])
    assert mae_loss(pred, target, mask, norm_pix=False).item() == 0.0
    mask[0, 0] = 1
    assert math.isclose(mae_loss(pred, target, mask, norm_pix=False).item(), 1.0 / 4, rel_tol=1e-6)


def test_mae_norm_pix_target_and_patchify():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float).reshape(2, 3, 4, 4)
    p = patchify(x, 2)
    assert p.shape == (2, 4, 12)
    assert p[0, 1, 0] == x[0, 0, 0, 2] and p[0, 1, 1] == x[0, 1, 0, 2]  # channels last within a patch
    t = torch.rand(1, 2, 6)
    normed = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6) ** 0.5
    assert mae_loss(normed, t, torch.ones(1, 2)).item() < 1e-10
