import torch
import torch.nn.functional as F

from ssl_core.losses._precision import full_precision


@full_precision
def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised mean squared error (Grill et al., NeurIPS 2020, eq. 2):

        L(p, z) = || p/||p|| - z/||z|| ||^2 = 2 - 2 <p, z> / (||p|| ||z||),

    averaged over the batch; p is the online prediction, z the target projection (no gradient flows
    to z: detach it). BYOL symmetrises by adding the loss with the views swapped (eq. 3).
    """
    p, z = (x.to(torch.promote_types(x.dtype, torch.float32)) for x in (p, z))
    return (2 - 2 * (F.normalize(p, dim=-1) * F.normalize(z, dim=-1)).sum(-1)).mean()
