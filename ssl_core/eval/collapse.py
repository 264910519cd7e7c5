"""Collapse indicators of a batch of embeddings, cheap enough to log every training step."""

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError


def _batch(z, name: str) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise UserError(f"{name} needs a (batch, dim) tensor with batch >= 2, got {got}; "
                        "pass the embeddings of a whole batch.")
    return z.detach().float()


@torch.no_grad()
def embedding_std(z) -> float:
    """Std over the batch of the L2-normalised embeddings, averaged over dimensions.

    SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, sec. 4.1):
    for z / ||z|| with i.i.d. Gaussian entries the per-dimension std is about 1 / sqrt(d); a
    collapsed output (all rows equal) gives 0. Non-finite input gives NaN.
    """
    z = F.normalize(_batch(z, "embedding_std"), dim=1)
    return z.std(dim=0).mean().item()


@torch.no_grad()
def effective_rank(z) -> float:
    """Effective rank of the centred batch embedding matrix (Roy & Vetterli, EUSIPCO 2007).

    With singular values s_k of Z - mean(Z) and p_k = s_k / sum_k s_k,
    erank = exp(-sum_k p_k log p_k), between 1 (rank one) and min(batch, dim) (all s_k equal).
    A fully collapsed batch (no variance at all) returns 0; non-finite input returns NaN (a
    diverged step is logged, not raised).
    """
    z = _batch(z, "effective_rank")
    if not torch.isfinite(z).all():
        return float("nan")
    s = torch.linalg.svdvals(z - z.mean(0))
    total = s.sum()
    if total <= 1e-5 * torch.linalg.norm(z):  # only float32 round-off is left after centring
        return 0.0
    p = s / total
    p = p[p > 0]
    return (-(p * p.log()).sum()).exp().item()
