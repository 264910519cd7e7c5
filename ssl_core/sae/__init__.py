"""Sparse autoencoders over a model's activations, and their evaluation: pure tensors, no I/O.

- model:        `SparseAutoencoder` (topk, batchtopk, relu), the fast sparse TopK autograd Functions;
- metrics:      explained variance, L0, dead latents, firing densities, per-latent F1 against factors;
- dictionaries: supervised dictionaries, probes, control and the failure modes of Makelov et al. 2024.
"""

from ssl_core.sae.dictionaries import (
    LatentFactorStats,
    Probe,
    SupervisedDictionary,
    best_latents,
    dictionary_explained_variance,
    factor_report,
    fit_probe,
    occlusion,
    over_splitting,
    probe_f1,
    sae_edit_rate,
    sae_factor_stats,
    supervised_dictionary,
    supervised_edit_rate,
)
from ssl_core.sae.metrics import (
    dead_fraction,
    density_histogram,
    explained_variance,
    firing_counts,
    firing_density,
    firing_f1,
    firing_value_counts,
    mean_l0,
    peak_activation,
    precision_recall_f1,
)
from ssl_core.sae.model import (
    VARIANTS,
    SAEOutput,
    SparseAutoencoder,
    blocked_topk,
    geometric_median,
    sparse_decode,
    topk_encode,
)

__all__ = [
    "VARIANTS",
    "LatentFactorStats",
    "Probe",
    "SAEOutput",
    "SparseAutoencoder",
    "SupervisedDictionary",
    "best_latents",
    "blocked_topk",
    "dead_fraction",
    "density_histogram",
    "dictionary_explained_variance",
    "explained_variance",
    "factor_report",
    "firing_counts",
    "firing_density",
    "firing_f1",
    "firing_value_counts",
    "fit_probe",
    "geometric_median",
    "mean_l0",
    "occlusion",
    "over_splitting",
    "peak_activation",
    "precision_recall_f1",
    "probe_f1",
    "sae_edit_rate",
    "sae_factor_stats",
    "sparse_decode",
    "supervised_dictionary",
    "supervised_edit_rate",
    "topk_encode",
]
