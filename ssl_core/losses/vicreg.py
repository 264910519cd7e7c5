import torch
import torch.nn.functional as F

from ssl_core.distributed import gather
from ssl_core.losses._precision import full_precision
from ssl_core.losses.barlow_twins import off_diagonal


@full_precision
def vicreg(z1: torch.Tensor, z2: torch.Tensor, sim_weight: float = 25.0, var_weight: float = 25.0,
           cov_weight: float = 1.0, eps: float = 1e-4, gather_distributed: bool = False) -> torch.Tensor:
    """VICReg (Bardes, Ponce, LeCun, ICLR 2022, eq. 1-6; conventions of the official code).

        s(Z, Z')  = mean squared error between the two branches (invariance),
        v(Z)      = mean_j max(0, 1 - sqrt(Var(z_j) + eps)), unbiased variance, eps = 1e-4 (variance),
        c(Z)      = sum_{i != j} C(Z)_ij^2 / d, C the (unbiased) covariance matrix (covariance),
        L = sim_weight * s + var_weight * (v(Z) + v(Z')) / 2 + cov_weight * (c(Z) + c(Z')).

    Setting var_weight = 0 removes the guard against collapse. With `gather_distributed` the statistics
    cover the global batch (every rank's embeddings, gathered with their gradients).
    """
    if gather_distributed:
        z1, z2 = gather(z1), gather(z2)
    z1, z2 = (z.to(torch.promote_types(z.dtype, torch.float32)) for z in (z1, z2))
    n, d = z1.shape
    sim = F.mse_loss(z1, z2)
    z1, z2 = z1 - z1.mean(0), z2 - z2.mean(0)
    std1, std2 = torch.sqrt(z1.var(0) + eps), torch.sqrt(z2.var(0) + eps)
    var = F.relu(1 - std1).mean() / 2 + F.relu(1 - std2).mean() / 2
    cov1, cov2 = z1.T @ z1 / (n - 1), z2.T @ z2 / (n - 1)
    cov = off_diagonal(cov1).pow(2).sum() / d + off_diagonal(cov2).pow(2).sum() / d
    return sim_weight * sim + var_weight * var + cov_weight * cov
