import torch

from ssl_core.distributed import gather
from ssl_core.losses._precision import full_precision
from ssl_core.losses.barlow_twins import off_diagonal


def _standardize_unbiased(z: torch.Tensor) -> torch.Tensor:
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    return (z - z.mean(0)) / z.std(0)  # mix-bt's convention: unbiased std, no eps


@full_precision
def mix_bt_barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 1 / 128,
                        gather_distributed: bool = False) -> torch.Tensor:
    """Barlow Twins' loss as mix-bt computes it (wgcban/mix-bt, main.py; Zbontar et al. 2021, eq. 1-2):

        C = std(z1)^T std(z2) / N,  std(z) = (z - mean_b z) / unbiased std_b z  (no eps),
        L_BT = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2,

    where `barlow_twins` standardises as BatchNorm (biased variance + eps). mix-bt L2-normalises z1 and z2
    before (its model's output); that is the caller's. With `gather_distributed` the statistics cover the
    global batch.
    """
    if gather_distributed:
        z1, z2 = gather(z1), gather(z2)
    c = _standardize_unbiased(z1).T @ _standardize_unbiased(z2) / z1.shape[0]
    return (torch.diagonal(c) - 1).pow(2).sum() + lambd * off_diagonal(c).pow(2).sum()


@full_precision
def mixed_barlow_twins_reg(z1: torch.Tensor, z2: torch.Tensor, zm: torch.Tensor, perm: torch.Tensor, alpha: float,
                           lambd: float = 1 / 128, reg_weight: float = 4.0, gather_distributed: bool = False) -> torch.Tensor:
    """The mixup regulariser of Mixed Barlow Twins (Bandara, Patel et al., "Guarding Barlow Twins Against
    Overfitting with Mixed Samples", 2023, eq. 5-7; official code wgcban/mix-bt).

    The mixed image is x_m = alpha x1 + (1 - alpha) x2[perm] with alpha ~ Beta(1, 1), one per batch;
    zm is its embedding. With every embedding standardised along the batch (mix-bt: unbiased std)
    and C(a, b) = a^T b / N, linear interpolation predicts
        C(zm, z1) ~ alpha C(z1, z1) + (1 - alpha) C(z2[perm], z1),
        C(zm, z2) ~ alpha C(z1, z2) + (1 - alpha) C(z2[perm], z2),
    and the regulariser is
        L_reg = reg_weight * lambda_BT * (||C(zm, z1) - target_1||_F^2 + ||C(zm, z2) - target_2||_F^2).
    Defaults: the paper's CIFAR setting (lambda_BT = 1/128, reg_weight = 4). With `gather_distributed`
    the three embeddings are the global batch's (gathered with their gradients) and `perm` permutes it.
    """
    if gather_distributed:
        z1, z2, zm = gather(z1), gather(z2), gather(zm)
    n = z1.shape[0]
    a, b, m = _standardize_unbiased(z1), _standardize_unbiased(z2), _standardize_unbiased(zm)
    bp = b[perm]
    cc_m1, cc_m2 = m.T @ a / n, m.T @ b / n
    target_1 = alpha * (a.T @ a) / n + (1 - alpha) * (bp.T @ a) / n
    target_2 = alpha * (a.T @ b) / n + (1 - alpha) * (bp.T @ b) / n
    return reg_weight * lambd * ((cc_m1 - target_1).pow(2).sum() + (cc_m2 - target_2).pow(2).sum())
