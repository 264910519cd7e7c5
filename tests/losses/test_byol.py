import math

import torch

from ssl_core.losses import byol_loss


def test_byol_loss_by_hand():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 0.0]])
    z = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    # 2 - 2 cos: orthogonal -> 2; 45 degrees -> 2 - sqrt(2); parallel -> 0.
    expected = (2 + (2 - math.sqrt(2)) + 0) / 3
    assert math.isclose(byol_loss(p, z).item(), expected, rel_tol=1e-6)


def test_byol_loss_gradient_by_hand():
    # d/dp (2 - 2 p.z / (|p||z|)) at p = [1, 0], z = [0, 1]: -2 (z/|z| - cos * p/|p|) / |p| = [0, -2].
    p = torch.tensor([[1.0, 0.0]], requires_grad=True)
    byol_loss(p, torch.tensor([[0.0, 1.0]])).backward()
    torch.testing.assert_close(p.grad, torch.tensor([[0.0, -2.0]]))
    p64 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: byol_loss(x, torch.ones(4, 3, dtype=torch.float64)), (p64,))
