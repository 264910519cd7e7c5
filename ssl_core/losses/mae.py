import torch


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, patch * patch * C), patches in row-major order (as MAE's `patchify`)."""
    B, C, H, W = images.shape
    h, w = H // patch, W // patch
    x = images.reshape(B, C, h, patch, w, patch)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(B, h * w, patch * patch * C)


def mae_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True) -> torch.Tensor:
    """MAE's reconstruction loss (He et al. 2022, sec. 3): mean squared error on masked patches only.

    pred, target: (B, N, P) patch pixels; mask: (B, N), 1 where a patch was masked. With `norm_pix`
    each target patch is normalised by its own mean and variance (the paper's better variant):
        L = sum_masked mean_p (pred - (t - mean(t)) / sqrt(var(t) + 1e-6))^2 / #masked
    """
    target = target.float()
    if norm_pix:
        mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred.float() - target) ** 2).mean(dim=-1)
    mask = mask.float()
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)
