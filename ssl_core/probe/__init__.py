"""Probes of what a model relies on: the synthetic shortcut-bias study (`latent`)."""

from ssl_core.probe.latent import (
    MU_MAX,
    LatentSpec,
    availability_ratio,
    bayes_accuracy,
    bayes_decision,
    embed,
    latent_grid,
    latent_means,
    mu_from_rho,
    reliance,
    sample,
    shortcut_bias,
    sweep_specs,
)

__all__ = [
    "MU_MAX",
    "LatentSpec",
    "availability_ratio",
    "bayes_accuracy",
    "bayes_decision",
    "embed",
    "latent_grid",
    "latent_means",
    "mu_from_rho",
    "reliance",
    "sample",
    "shortcut_bias",
    "sweep_specs",
]
