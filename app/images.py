"""Turning tensors into pictures: un-normalising views, colouring masks, greying hidden patches.

Display only: the pictures come from the engine's tensors.
"""

import numpy as np
import torch

from ssl_core.data.augment import IMAGENET_MEAN, IMAGENET_STD

# Distinct colours for instance ids 1, 2, ...; id 0 is background and stays uncoloured.
PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]],
    dtype=np.uint8,
)


def to_hwc(images) -> np.ndarray:
    """uint8 tensor/array (N,3,H,W) or (3,H,W) -> numpy uint8 (N,H,W,3) or (H,W,3)."""
    a = np.asarray(images.cpu() if hasattr(images, "cpu") else images)
    return np.ascontiguousarray(np.moveaxis(a, -3, -1))


def unnormalise(views) -> np.ndarray:
    """Normalised float views (B,3,H,W) -> uint8 (B,H,W,3) for display."""
    x = views.detach().float().cpu()
    mean = _as_tensor(IMAGENET_MEAN, x)
    std = _as_tensor(IMAGENET_STD, x)
    x = (x * std + mean).clamp(0, 1)
    return to_hwc((x * 255).round().byte())


def _as_tensor(v, like):
    return torch.as_tensor(v, dtype=like.dtype).reshape(1, 3, 1, 1)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Colour each instance id > 0 of `mask` (H,W) over `image` (H,W,3)."""
    mask = np.asarray(mask).astype(np.int64)
    out = image.astype(np.float32)
    fg = mask > 0
    colours = PALETTE[(mask - 1) % len(PALETTE)].astype(np.float32)
    out[fg] = (1 - alpha) * out[fg] + alpha * colours[fg]
    return out.round().astype(np.uint8)


def hide_patches(image: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Grey out hidden patches. `hidden` is a boolean grid (h, w) over `image` (H,W,3)."""
    hidden = np.asarray(hidden, dtype=bool)
    ph, pw = image.shape[0] // hidden.shape[0], image.shape[1] // hidden.shape[1]
    big = np.kron(hidden, np.ones((ph, pw), dtype=bool))
    out = image.copy()
    out[: big.shape[0], : big.shape[1]][big] = 128
    return out


def enlarge(image: np.ndarray, width: int) -> np.ndarray:
    """Nearest-neighbour upscaling to about `width` pixels, so tiny images stay crisp."""
    k = max(1, width // image.shape[1])
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1) if k > 1 else image
