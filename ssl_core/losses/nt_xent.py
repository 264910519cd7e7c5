import torch
import torch.nn.functional as F

from ssl_core.distributed import gather, rank_world
from ssl_core.losses._precision import full_precision


@full_precision
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5,
            gather_distributed: bool = False) -> torch.Tensor:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, eq. 1).

    For the 2N embeddings z = [z1; z2] and a positive pair (i, j) of views of one image:
        l(i, j) = -log( exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t) ),
    with sim the cosine similarity; the loss is the mean of l over all 2N anchors. Computed in float32
    even under bfloat16 autocast (the logits would otherwise round to 3 significant digits).

    With `gather_distributed` (lightly's switch), the keys are the global batch's embeddings, gathered
    from every rank with their gradients, and the anchors are this rank's: the mean of the ranks' losses
    is the single-process loss, and so are the gradients after DDP averages them.
    """
    n = z1.shape[0]
    z1, z2 = (F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=1) for z in (z1, z2))
    rank = rank_world()[0] if gather_distributed else 0
    k1, k2 = (gather(z1), gather(z2)) if gather_distributed else (z1, z2)
    total = k1.shape[0]
    logits = torch.cat([z1, z2]) @ torch.cat([k1, k2]).T / temperature  # (2n, 2N)
    own = torch.arange(n, device=z1.device) + rank * n
    self_idx, positive = torch.cat([own, own + total]), torch.cat([own + total, own])
    logits[torch.arange(2 * n, device=z1.device), self_idx] = float("-inf")
    return F.cross_entropy(logits, positive)
