"""Draw the views of one image that a method would train on, for the Data page.

The augmentations themselves are the engine's (ssl_core.data); this only picks their settings and
turns the tensors into pictures.
"""

import dataclasses

import torch

from app import images
from ssl_core.data import augment, block_patch_mask, random_patch_mask
from ssl_core.models import default_patch

COLOUR = ("brightness", "contrast", "saturation", "hue")


def with_strength(cfg, strength: float, min_crop: float | None = None):
    """The view config with colour jitter scaled by `strength` and, if given, a new smallest crop."""
    names = {f.name for f in dataclasses.fields(cfg)}
    if "strength" in names:
        change = {"strength": strength}
    else:
        change = {k: getattr(cfg, k) * strength for k in COLOUR if k in names}
    if min_crop is not None and "scale" in names:
        change["scale"] = (min(min_crop, cfg.scale[1]), cfg.scale[1])
    return dataclasses.replace(cfg, **change)


def draw_views(image, configs: dict, n_local: int, seed: int) -> dict:
    """{view name: list of uint8 (s, s, 3) pictures}; local views come n_local at a time."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, cfg in configs.items():
        n = max(1, n_local) if name.startswith("local") else 1
        batch = image.unsqueeze(0).expand(n, -1, -1, -1).contiguous()
        out[name] = list(images.unnormalise(augment(batch, cfg, g)))
    return out


def patch_mask(kind: str, size: int, ratio: float, seed: int):
    """A boolean (h, w) grid of hidden patches for one image, from the engine's mask functions.

    The patch size is the one the default ViT uses at this resolution.
    """
    patch = default_patch(size)

    g = torch.Generator().manual_seed(seed)
    grid = (size // patch, size // patch)
    fn = random_patch_mask if kind == "random" else block_patch_mask
    return fn(1, grid, ratio, generator=g).reshape(grid).cpu().numpy()
