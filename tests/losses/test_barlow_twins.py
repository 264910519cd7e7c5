import math

import torch

from ssl_core.losses import barlow_twins, cross_correlation, mixed_barlow_twins_reg


def test_barlow_twins_by_hand():
    # z1: column 0 = [1, -1] standardises to [a, -a], a = 1/sqrt(1 + 1e-5); column 1 is constant -> 0.
    # z2: columns [a, -a] and [b, -b], b = 2/sqrt(4 + 1e-5).  C = [[a^2, a b], [0, 0]].
    z1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    z2 = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    a, b = 1 / math.sqrt(1 + 1e-5), 2 / math.sqrt(4 + 1e-5)
    torch.testing.assert_close(cross_correlation(z1, z2), torch.tensor([[a * a, a * b], [0.0, 0.0]]))
    lambd = 0.25
    expected = (1 - a * a) ** 2 + 1.0 + lambd * (a * b) ** 2
    assert math.isclose(barlow_twins(z1, z2, lambd).item(), expected, rel_tol=1e-6)


def test_barlow_twins_matches_reference_code():
    # The official code: c = bn(z1).T @ bn(z2) / N with BatchNorm1d(affine=False) in training mode.
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    bn = torch.nn.BatchNorm1d(8, affine=False)
    c = bn(z1).T @ bn(z2) / 16
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = (c - torch.diag(torch.diagonal(c))).pow(2).sum()
    torch.testing.assert_close(barlow_twins(z1, z2, 5e-3), on + 5e-3 * off)


def test_barlow_twins_gradient():
    z1 = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: barlow_twins(a, b, 0.1), (z1, z2))


def test_mixed_barlow_twins_reg_by_hand():
    # One dimension, two samples: unbiased standardisation maps [1, -1] to [s, -s], s = 1/sqrt(2).
    z1 = torch.tensor([[1.0], [-1.0]])
    z2 = torch.tensor([[1.0], [-1.0]])
    zm = torch.tensor([[-1.0], [1.0]])
    perm = torch.tensor([1, 0])
    # C(zm, z1) = C(zm, z2) = -1/2; both targets are 0.5 * 1/2 + 0.5 * (-1/2) = 0.
    reg = mixed_barlow_twins_reg(z1, z2, zm, perm, alpha=0.5, lambd=1 / 128, reg_weight=4.0)
    assert math.isclose(reg.item(), 4 / 128 * (0.25 + 0.25), rel_tol=1e-6)


def test_mixed_barlow_twins_reg_is_zero_at_the_ends():
    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 5), torch.randn(8, 5)
    perm = torch.randperm(8)
    assert mixed_barlow_twins_reg(z1, z2, z1, perm, alpha=1.0).abs() < 1e-6
    assert mixed_barlow_twins_reg(z1, z2, z2[perm], perm, alpha=0.0).abs() < 1e-6


def test_mixed_barlow_twins_reg_gradient():
    z = [torch.randn(6, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    perm = torch.randperm(6)
    assert torch.autograd.gradcheck(lambda a, b, m: mixed_barlow_twins_reg(a, b, m, perm, 0.3), tuple(z))
