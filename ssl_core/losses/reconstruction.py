import torch

from ssl_core.losses._precision import full_precision


@full_precision
def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 reconstruction of corrupted pixels only (SiT, Atito, Awais, Kittler 2021, sec. 3.1; GMML):

        L_rec = sum_{pixels p corrupted} |x_hat_p - x_p| / #(corrupted pixel values),

    pred, target (B, C, H, W) images; mask (B, 1 or C, H, W), 1 where the input was corrupted.
    """
    pred = pred.to(torch.promote_types(pred.dtype, torch.float32))
    mask = mask.to(pred.dtype).expand_as(pred)
    return ((pred - target.to(pred.dtype)).abs() * mask).sum() / mask.sum().clamp(min=1)
