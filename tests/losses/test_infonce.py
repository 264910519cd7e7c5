import math

import torch

from ssl_core.losses import infonce, moco_v3_loss, nt_xent
from ssl_core.losses.nt_xent_negatives import nt_xent_k_negatives


def test_infonce_and_moco_v3_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # normalised inside
    k = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    # logits = I / t; each row: -log(e^{1/t} / (e^{1/t} + 1)) = log(1 + e^{-1/t}).
    assert math.isclose(infonce(q, k, 1.0).item(), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    t = 0.5
    assert math.isclose(moco_v3_loss(q, k, t).item(), 2 * t * math.log(1 + math.exp(-1 / t)), rel_tol=1e-6)


def test_moco_v3_gradient():
    q = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(5, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: moco_v3_loss(x, k, 0.2), (q,))


def test_nt_xent_with_all_negatives_is_nt_xent_and_one_negative_by_hand():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 8), torch.randn(6, 8)
    torch.testing.assert_close(nt_xent_k_negatives(z1, z2, 0.3, negatives=10), nt_xent(z1, z2, 0.3))
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = torch.stack([a, b])
    t = 0.5  # positive sim 1, the single negative sim 0
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 1))
    assert math.isclose(nt_xent_k_negatives(z, z.clone(), t, negatives=1).item(), expected, rel_tol=1e-6)


def test_nt_xent_without_negatives_is_the_pull_term_alone():
    a, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.6, 0.8], [0.0, 2.0]])  # cosines 0.6 and 1
    t = 0.5
    assert math.isclose(nt_xent_k_negatives(a, b, t, negatives=0).item(), -(0.6 + 1.0) / 2 / t, rel_tol=1e-6)
