"""NT-Xent keeps float32 under bfloat16 autocast: its value and gradient equal the float32 ones."""

import torch
import torch.nn.functional as F

from ssl_core.losses import nt_xent


def reference_nt_xent(z1, z2, t):
    """SimCLR's eq. 1 written plainly, in float32."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / t
    n = z1.shape[0]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, positive)


def test_nt_xent_under_bf16_autocast_equals_float32():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(32, 64, generator=g, requires_grad=True)
    z2 = torch.randn(32, 64, generator=g, requires_grad=True)
    ref = reference_nt_xent(z1, z2, 0.1)
    ref_grads = torch.autograd.grad(ref, (z1, z2))
    with torch.autocast("cpu", torch.bfloat16):
        loss = nt_xent(z1, z2, 0.1)
    grads = torch.autograd.grad(loss, (z1, z2))
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)  # bfloat16 logits: ~1e-2 off
    for g_, r in zip(grads, ref_grads):
        torch.testing.assert_close(g_, r, rtol=1e-5, atol=1e-7)
