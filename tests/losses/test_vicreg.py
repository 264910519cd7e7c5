import math

import torch

from ssl_core.losses import vicreg


def test_vicreg_variance_and_invariance_by_hand():
    # Both branches constant: std = sqrt(0 + 1e-4) = 0.01, hinge 0.99 per branch; MSE = (1 + 1) / 4.
    z1 = torch.zeros(2, 2)
    z2 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert math.isclose(vicreg(z1, z2).item(), 25 * 0.5 + 25 * 0.99, rel_tol=1e-6)
    assert math.isclose(vicreg(z1, z2, var_weight=0).item(), 25 * 0.5, rel_tol=1e-6)


def test_vicreg_covariance_by_hand():
    # z = [[1, 1], [-1, -1]]: unbiased variance 2 (std > 1: no hinge), covariance [[2, 2], [2, 2]],
    # off-diagonal squares 2 * 4 = 8, divided by d = 2 -> 4 per branch, 8 for both.
    z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert math.isclose(vicreg(z, z.clone()).item(), 8.0, rel_tol=1e-6)
    assert math.isclose(vicreg(z, z.clone(), cov_weight=0.5).item(), 4.0, rel_tol=1e-6)


def test_vicreg_gradient():
    z1 = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(vicreg, (z1, z2))
