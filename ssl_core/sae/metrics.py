"""Metrics of a sparse autoencoder, as pure functions of tensors.

Latents come either dense, acts (N, width), or in TopK's sparse form, acts (N, k) values at indices
(N, k) with `width` given; a latent fires on a token when its activation is > 0. The SAE's own loss
logs cover one batch; these take whatever the caller accumulated (counts add up over batches).
"""

import torch

from ssl_core.errors import UserError


def explained_variance(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Fraction of the variance of x that x_hat explains (Gao et al. 2024 report 1 - it, the normalised MSE):

        EV = 1 - sum_i ||x_i - x_hat_i||^2 / sum_i ||x_i - mean(x)||^2,

    mean(x) the per-dimension mean over the N rows; computed in float64. 1 for x_hat = x, 0 for
    x_hat = mean(x), negative when worse than the mean.
    """
    if x.shape != x_hat.shape or x.ndim != 2:
        raise UserError(f"explained_variance needs two (N, D) tensors of one shape, got {tuple(x.shape)} and "
                        f"{tuple(x_hat.shape)}.")
    x, x_hat = x.double(), x_hat.double()
    total = (x - x.mean(0)).pow(2).sum()
    if total == 0:
        raise UserError("explained_variance: x is constant, so it has no variance to explain; pass varied rows.")
    return 1.0 - ((x - x_hat).pow(2).sum() / total).item()


def mean_l0(acts: torch.Tensor) -> float:
    """L0: the mean number of active latents per token, E_i #{j : z_ij != 0}; dense or TopK values alike."""
    return (acts != 0).sum(-1).double().mean().item()


def _fired(acts: torch.Tensor, indices: torch.Tensor | None, width: int | None):
    """The (latent id, activation) pairs of the firing entries, dense or sparse input."""
    if indices is None:
        rows, latents = (acts > 0).nonzero(as_tuple=True)
        return latents, acts[rows, latents], acts.shape[1]
    if width is None:
        raise UserError("Sparse latents (values, indices) need `width`: pass the SAE's number of latents.")
    on = acts > 0
    return indices[on], acts[on], width


def firing_counts(acts: torch.Tensor, indices: torch.Tensor | None = None, width: int | None = None) -> torch.Tensor:
    """(width,) long: on how many tokens each latent fired. Sums over batches; `dead_fraction` takes it."""
    latents, _, width = _fired(acts, indices, width)
    return torch.bincount(latents, minlength=width)


def firing_density(acts: torch.Tensor, indices: torch.Tensor | None = None, width: int | None = None) -> torch.Tensor:
    """(width,) float: each latent's firing density p_j = #{i : z_ij > 0} / N."""
    return firing_counts(acts, indices, width).double() / len(acts)


def peak_activation(acts: torch.Tensor, indices: torch.Tensor | None = None, width: int | None = None) -> torch.Tensor:
    """(width,) float: each latent's largest activation, 0 if it never fired. Max over batches combines."""
    latents, values, width = _fired(acts, indices, width)
    out = torch.zeros(width, dtype=torch.float64, device=values.device)
    return out.scatter_reduce_(0, latents, values.double(), reduce="amax")


def dead_fraction(counts: torch.Tensor) -> float:
    """Fraction of latents that never fired, given their firing counts (width,) over a window of tokens."""
    return (counts == 0).double().mean().item()


def density_histogram(density: torch.Tensor, bins: int = 40, lo: float = -6.0,
                      hi: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram of log10 firing densities, the standard SAE health plot (Bricken et al. 2023).

    Returns counts (bins,) and bin edges (bins + 1,) over [lo, hi]; log10 p is clamped into the range
    so that no latent is lost, and latents with p = 0 (dead) are left out: see `dead_fraction`.
    """
    if bins < 1 or not lo < hi:
        raise UserError(f"density_histogram needs bins >= 1 and lo < hi, got bins={bins}, lo={lo}, hi={hi}.")
    live = density[density > 0].double()
    logs = live.log10().clamp(lo, hi)
    counts = torch.histc(logs, bins=bins, min=lo, max=hi).long()
    return counts, torch.linspace(lo, hi, bins + 1, dtype=torch.float64)


def firing_value_counts(fires: torch.Tensor, values: torch.Tensor, n_values: int,
                        chunk: int = 16_384) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The counts behind `firing_f1`, additive over batches:

        tp[w, v] = #{i : latent w fires and value_i = v},  fired[w] = #{i : w fires},  n[v] = #{i : value_i = v}.

    fires (N, W) bool, values (N,) int codes in [0, n_values). Chunked over N, so N can be large.
    """
    if fires.ndim != 2 or values.shape != (fires.shape[0],):
        raise UserError(f"firing counts need fires (N, W) and values (N,), got {tuple(fires.shape)} and "
                        f"{tuple(values.shape)}.")
    values = values.long()
    if len(values) and (values.min() < 0 or values.max() >= n_values):
        raise UserError(f"Factor codes must lie in [0, {n_values}), got {values.min().item()}..{values.max().item()}.")
    values = values.to(fires.device)
    tp = torch.zeros(n_values, fires.shape[1], dtype=torch.float64, device=fires.device)
    for start in range(0, len(values), chunk):
        f = fires[start:start + chunk].float()  # float32 sums are exact for a chunk's counts
        tp += torch.zeros_like(tp, dtype=torch.float32).index_add_(0, values[start:start + chunk], f).double()
    fired = fires.sum(0).double()
    n = torch.bincount(values, minlength=n_values).double()
    return tp.T.contiguous(), fired, n


def precision_recall_f1(tp: torch.Tensor, fired: torch.Tensor,
                        n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From `firing_value_counts`: precision tp / fired, recall tp / n, F1 = 2 tp / (fired + n); each (W, V),
    0 where the denominator is 0."""
    precision = tp / fired[:, None].clamp_min(1)
    recall = tp / n[None, :].clamp_min(1)
    f1 = 2 * tp / (fired[:, None] + n[None, :]).clamp_min(1)
    return precision, recall, f1


def firing_f1(fires: torch.Tensor, values: torch.Tensor,
              n_values: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each latent's firing as a classifier of each factor value (Makelov, Lange, Nanda 2024, sec. 4):

        precision[w, v] = P(value = v | w fires),  recall[w, v] = P(w fires | value = v),
        F1 = 2 P R / (P + R).

    fires (N, W) bool, values (N,) int codes; returns three (W, V) float64 tensors.
    """
    return precision_recall_f1(*firing_value_counts(fires, values, n_values))

