"""The tokens a sparse autoencoder learns: a model's features from the feature store.

The patch tokens (every patch of every image) or the CLS tokens of one block, from a checkpoint and a
dataset, or from a feature file written by `python -m ssl_core features`. Images, not tokens, are split into
training and held-out sets (one image's patches are alike, so splitting tokens would leak), 90/10 by a
seeded permutation.
"""

from pathlib import Path

import torch

from ssl_core.data import TensorData
from ssl_core.errors import UserError
from ssl_core.features import dataset_features, load_features

HELD_OUT = 0.1  # of the images, whose tokens are the held-out set


def token_features(cfg):
    """The Features an SAE config names: a feature file, or a checkpoint's features of `cfg.data`."""
    kind = cfg.tokens
    if cfg.features:
        return load_features(cfg.features), kind
    if not cfg.checkpoint:
        raise UserError("an SAE learns a model's features: give --checkpoint CKPT --data DATA, or --features FILE")
    return dataset_features(cfg.checkpoint, cfg.data, "all", cfg.limit, cfg.layer, (kind,), cfg.dtype, cfg.device), kind


def tokens_of(f, kind: str, images: torch.Tensor) -> TensorData:
    """The tokens (T, D) of the given images, with the image each token comes from (`image`)."""
    x = f[kind].float()[images]
    per_image = x.shape[1] * x.shape[2] if x.ndim == 4 else 1
    return TensorData({"inputs": x.reshape(-1, x.shape[-1]),
                       "image": images.repeat_interleave(per_image)}, source=kind)


def split_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, held-out images): a seeded 90/10 split of n images (at least one held out)."""
    if n < 2:
        raise UserError(f"an SAE needs features of at least 2 images (got {n}): use more data")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = max(1, round(HELD_OUT * n))
    return perm[k:].sort().values, perm[:k].sort().values


def sae_tokens(cfg) -> tuple[TensorData, TensorData]:
    """(training tokens, held-out tokens) for an SAE run, each a TensorData with `inputs` and `image`."""
    f, kind = token_features(cfg)
    train, held = split_images(len(f), cfg.seed)
    data, test = tokens_of(f, kind, train), tokens_of(f, kind, held)
    data.source_info = {**f.source, "tokens": kind, "features_file": cfg.features and Path(cfg.features).name}
    return data, test
