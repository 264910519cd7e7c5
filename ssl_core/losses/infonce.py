import torch
import torch.nn.functional as F

from ssl_core.distributed import gather, rank_world
from ssl_core.losses._precision import full_precision


@full_precision
def infonce(q: torch.Tensor, k: torch.Tensor, temperature: float = 0.2, gather_distributed: bool = False) -> torch.Tensor:
    """InfoNCE with in-batch keys (van den Oord et al. 2018; MoCo, He et al. 2020, eq. 1):

        L_q = -log( exp(q_i . k_i / t) / sum_j exp(q_i . k_j / t) ),

    q and k L2-normalised; the positive of query i is key i, the other keys of the batch are its
    negatives. Mean over the queries. With `gather_distributed` the keys are the global batch's (MoCo v3's
    concat_all_gather) and the queries this rank's.
    """
    q, k = (F.normalize(x.to(torch.promote_types(x.dtype, torch.float32)), dim=-1) for x in (q, k))
    rank = rank_world()[0] if gather_distributed else 0
    keys = gather(k) if gather_distributed else k
    logits = q @ keys.T / temperature
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device) + rank * q.shape[0])


def moco_v3_loss(q: torch.Tensor, k: torch.Tensor, temperature: float = 0.2, gather_distributed: bool = False) -> torch.Tensor:
    """MoCo v3's contrastive loss (Chen, Xie, He, ICCV 2021, Algorithm 1): InfoNCE scaled by 2 * t,

        ctr(q, k) = 2 t * CrossEntropy(q k^T / t, arange(N)),

    which keeps the gradient's size independent of the temperature. The method symmetrises:
    ctr(q1, k2) + ctr(q2, k1), with k from the momentum encoder.
    """
    return infonce(q, k, temperature, gather_distributed) * (2 * temperature)
