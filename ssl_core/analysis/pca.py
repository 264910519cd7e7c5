"""PCA of patch features as colours (DINOv2 practice: Oquab et al. 2024, sec. 7 and Fig. 1).

1. The first principal component over the patches of one or several images tends to separate the
   foreground from the background. Its sign is arbitrary, so the user can flip it.
2. A second PCA over the foreground patches only; its first three components, min-max scaled per
   component, become R, G and B. Background patches are drawn black.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_core.errors import UserError


def _components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (D,), the top-k principal directions (D, k)) of rows x (N, D), by SVD."""
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, v[:k].T


def _sign(scores: torch.Tensor) -> float:
    """A deterministic sign: the side with fewer patches is positive (objects are usually smaller
    than the background); the user's flip overrides it."""
    return 1.0 if (scores > 0).float().mean() <= 0.5 else -1.0


def patch_pca(grids, flip: bool = False, threshold: float = 0.0, background: bool = True) -> dict:
    """PCA colours for one or several patch grids [(rows, cols, D), ...] (sizes may differ).

    Returns {"first": [(rows, cols) first-component score, standardised], "foreground": [bool grids],
    "rgb": [(rows, cols, 3) uint8]}. `threshold` is on the standardised first component;
    `flip` swaps foreground and background; with `background=False` all patches are coloured (no
    foreground step)."""
    grids = [torch.as_tensor(np.asarray(g, dtype=np.float32)) for g in grids]
    if not grids:
        raise UserError("PCA needs at least one image")
    dims = {g.shape[-1] for g in grids}
    if len(dims) != 1:
        raise UserError("these patch grids have different feature sizes: use one model and layer for all")
    shapes = [g.shape[:2] for g in grids]
    x = torch.cat([g.reshape(-1, g.shape[-1]) for g in grids])
    if x.shape[0] < 4:
        raise UserError(f"PCA needs at least 4 patches, got {x.shape[0]}: use a larger image or input size")
    mean, d = _components(x, 1)
    first = ((x - mean) @ d)[:, 0]
    first = first / first.std().clamp_min(1e-12)
    first = first * _sign(first) * (-1 if flip else 1)
    fg = first > threshold if background else torch.ones_like(first, dtype=torch.bool)
    if fg.sum() < 3:
        fg = torch.ones_like(fg)  # too few foreground patches for three components: colour them all
    m2, d2 = _components(x[fg], 3)
    rgb = (x - m2) @ d2
    if rgb.shape[1] < 3:
        rgb = torch.cat([rgb, torch.zeros(rgb.shape[0], 3 - rgb.shape[1])], dim=1)
    lo, hi = rgb[fg].amin(0), rgb[fg].amax(0)
    rgb = ((rgb - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    rgb[~fg] = 0
    rgb = (rgb * 255).round().byte()
    out = {"first": [], "foreground": [], "rgb": []}
    start = 0
    for h, w in shapes:
        n = h * w
        out["first"].append(first[start:start + n].reshape(h, w).numpy())
        out["foreground"].append(fg[start:start + n].reshape(h, w).numpy())
        out["rgb"].append(rgb[start:start + n].reshape(h, w, 3).numpy())
        start += n
    return out
