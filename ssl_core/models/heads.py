"""Projection and prediction heads that sit on top of a backbone during SSL training only."""

import torch.nn as nn
import torch.nn.functional as F


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2, batch_norm: bool = True,
        last_batch_norm: bool = False, last_bias: bool | None = None) -> nn.Sequential:
    """Linear-BN-ReLU blocks then a final Linear (SimCLR, BYOL, MoCo v3, VICReg projectors), optionally
    followed by a BatchNorm without affine (`last_batch_norm`). The final Linear has a bias unless a
    BatchNorm follows it, or `last_bias` says otherwise (MoCo v3's MLPs have none at all)."""
    mods, d = [], in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden_dim, bias=not batch_norm)]
        mods += [nn.BatchNorm1d(hidden_dim)] if batch_norm else []
        mods += [nn.ReLU(inplace=True)]
        d = hidden_dim
    mods.append(nn.Linear(d, out_dim, bias=not last_batch_norm if last_bias is None else last_bias))
    if last_batch_norm:
        mods.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*mods)


class DINOHead(nn.Module):
    """DINO's head (Caron et al. 2021): a 3-layer GELU MLP to an L2-normalised bottleneck, then a
    weight-normalised linear layer to K prototypes. Freezing the last layer's norm (`norm_last_layer`)
    stabilises training, as in the official code."""

    def __init__(self, in_dim: int, out_dim: int = 4096, hidden_dim: int = 512, bottleneck_dim: int = 128,
                 norm_last_layer: bool = True):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.parametrizations.weight.original0.data.fill_(1.0)
        self.last_layer.parametrizations.weight.original0.requires_grad = not norm_last_layer

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))
