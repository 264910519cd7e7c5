import math

import torch

from ssl_core.losses import ijepa_loss


def test_ijepa_loss_layer_norms_the_target_by_hand():
    target = torch.tensor([[[1.0, 3.0]]])  # layer norm: mean 2, variance 1 -> [-d, d], d = 1/sqrt(1 + 1e-5)
    d = 1 / math.sqrt(1 + 1e-5)
    assert ijepa_loss(torch.tensor([[[-d, d]]]), target).item() < 1e-7
    zero = torch.zeros(1, 1, 2)
    assert math.isclose(ijepa_loss(zero, target, "smooth_l1").item(), 0.5 * d * d, rel_tol=1e-6)  # |x| < 1
    assert math.isclose(ijepa_loss(zero, target, "mse").item(), d * d, rel_tol=1e-6)
    assert math.isclose(ijepa_loss(zero, 10 * target, "mse").item(), d * d, rel_tol=1e-4)  # scale-free target


def test_ijepa_loss_gradient_flows_to_prediction_only():
    pred = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: ijepa_loss(p, target), (pred,))
    ijepa_loss(pred, target).backward()
    assert target.grad is None
