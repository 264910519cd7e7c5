import torch
import torch.nn.functional as F

from ssl_core.losses._precision import full_precision


@full_precision
def ijepa_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "smooth_l1") -> torch.Tensor:
    """I-JEPA's prediction loss (Assran et al., CVPR 2023, eq. 1 and the official code).

    target: the EMA target encoder's output tokens of the target blocks, layer-normalised over the
    feature dimension without affine (the code's F.layer_norm); pred: the predictor's tokens for the
    same positions. The paper writes the squared L2 distance averaged over the M target blocks,
        L = 1/M sum_i sum_{j in B_i} || s_hat_y(j) - s_y(j) ||^2 ;
    the official code uses the smooth L1 distance averaged over every element (`kind="smooth_l1"`,
    the default); `kind="mse"` gives the mean squared error.
    """
    pred = pred.to(torch.promote_types(pred.dtype, torch.float32))
    target = target.to(torch.promote_types(target.dtype, torch.float32)).detach()
    target = F.layer_norm(target, (target.shape[-1],))
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    if kind == "mse":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown I-JEPA loss {kind!r}: use smooth_l1 or mse")
