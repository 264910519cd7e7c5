import torch
import torch.nn.functional as F

from ssl_core.losses._precision import full_precision


@full_precision
def nt_xent_k_negatives(z1: torch.Tensor, z2: torch.Tensor, temperature: float, negatives: int,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """NT-Xent (Chen et al. 2020, eq. 1) with only `negatives` random negatives per anchor.

        l(i, j) = -log( exp(s_ij / t) / (exp(s_ij / t) + sum_{k in K_i} exp(s_ik / t)) ),
    K_i: `negatives` indices drawn without replacement among the 2N - 2 other images' views. With
    negatives = 2N - 2 this is `nt_xent` exactly. With 0 the denominator goes and only the pull term is
    left, l(i, j) = -s_ij / t: the alignment half of the loss without its uniformity half (Wang and Isola,
    "Understanding Contrastive Representation Learning through Alignment and Uniformity", ICML 2020),
    which nothing stops from mapping every image to one point (the collapse lesson of SimCLR).
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).to(torch.promote_types(z1.dtype, torch.float32)), dim=1)
    sim = z @ z.T / temperature
    idx = torch.arange(2 * n, device=z.device)
    pos = torch.cat([idx[n:], idx[:n]])
    if negatives == 0:
        return -sim[idx, pos].mean()
    scores = torch.rand(2 * n, 2 * n, generator=generator, device=z.device)
    scores[idx, idx] = -1.0
    scores[idx, pos] = -1.0
    k = min(negatives, 2 * n - 2)
    neg = scores.topk(k, dim=1).indices  # uniform random subset of the valid negatives
    logits = torch.cat([sim[idx, pos].unsqueeze(1), sim.gather(1, neg)], dim=1)
    return F.cross_entropy(logits, torch.zeros(2 * n, dtype=torch.long, device=z.device))
