"""Fixed 2-D sine-cosine position embeddings, as MAE and I-JEPA use in their encoders, MAE's decoder and
I-JEPA's predictor (MAE's util/pos_embed.py, copied by I-JEPA's src/models/vision_transformer.py).

A module of its own rather than part of `ssl_core.models.vit` because only these methods ask for them: the
ViT keeps its learned `pos_embed` parameter, which a method overwrites with these values and stops training
(`use_sincos`), so checkpoints keep their layout and every page loads them as before.
"""

import torch
from torch import nn

from ssl_core.errors import UserError


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """(M,) positions -> (M, dim): [sin(pos w_k), cos(pos w_k)], w_k = 1 / 10000^(k / (dim/2)), k < dim/2."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.double().reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_2d(dim: int, grid: int, cls_token: bool = False) -> torch.Tensor:
    """(grid*grid [+1], dim) float32 embeddings of a square patch grid in row-major order: the first half of
    the dimensions encodes the column, the second half the row (MAE's `get_2d_sincos_pos_embed`, whose
    meshgrid puts w first); with `cls_token`, a zero row in front for the CLS token."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embeddings need a width divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    emb = torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb])
    return emb.float()


def use_sincos(param: nn.Parameter, grid: int, cls_token: bool) -> None:
    """Overwrite a (1, [1 +] grid*grid, D) position-embedding parameter with the fixed sin-cos values and stop
    training it (the trainer's optimiser takes only parameters that require gradients)."""
    if param.shape[-1] % 4:
        raise UserError(f"sin-cos position embeddings need a width divisible by 4, not {param.shape[-1]}: "
                        "use pos_embed=learned or another width")
    with torch.no_grad():
        param.copy_(sincos_2d(param.shape[-1], grid, cls_token).unsqueeze(0))
    param.requires_grad_(False)
