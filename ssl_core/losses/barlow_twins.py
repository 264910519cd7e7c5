import torch

from ssl_core.distributed import gather
from ssl_core.losses._precision import full_precision


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 at least (bfloat16 autocast outputs), float64 kept (gradcheck)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened (as Barlow Twins' and VICReg's code)."""
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def batch_standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm1d without affine in training mode: (z - mean) / sqrt(biased var + eps), along the batch."""
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


@full_precision
def cross_correlation(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """C = BN(z1)^T BN(z2) / N, the (D, D) cross-correlation of Barlow Twins (eq. 2)."""
    z1, z2 = _upcast(z1), _upcast(z2)
    return batch_standardize(z1).T @ batch_standardize(z2) / z1.shape[0]


@full_precision
def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3, gather_distributed: bool = False) -> torch.Tensor:
    """Barlow Twins' redundancy-reduction loss (Zbontar et al., ICML 2021, eq. 1-2).

        C_ij = sum_b zA_bi zB_bj / N, with zA, zB standardised along the batch
               (BatchNorm without affine, biased variance, eps 1e-5, as the official code),
        L_BT = sum_i (1 - C_ii)^2 + lambda * sum_i sum_{j != i} C_ij^2.

    The first term makes the embedding invariant to the augmentations, the second decorrelates its
    dimensions (redundancy reduction). The paper's lambda is 5e-3. With `gather_distributed` the
    correlation covers the global batch (every rank's embeddings, gathered with their gradients).
    """
    if gather_distributed:
        z1, z2 = gather(z1), gather(z2)
    c = cross_correlation(z1, z2)
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    off_diag = off_diagonal(c).pow(2).sum()
    return on_diag + lambd * off_diag
