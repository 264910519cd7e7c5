"""Pictures of a feature for `sae top`: an image with the feature's activation laid over it in red."""

from pathlib import Path

import numpy as np
from PIL import Image

from ssl_core.files import atomic_write


def heat_overlay(image, heat: np.ndarray | None, alpha: float = 0.6) -> np.ndarray:
    """uint8 (3, H, W) image and an (h, w) activation grid -> (H, W, 3) uint8, red where it is active."""
    pic = np.moveaxis(np.asarray(image), 0, -1).astype(np.float32)
    if heat is None or not np.isfinite(heat).any() or heat.max() <= 0:
        return pic.astype(np.uint8)
    h = Image.fromarray((np.clip(heat / heat.max(), 0, 1) * 255).astype(np.uint8)).resize(pic.shape[1::-1],
                                                                                         Image.BILINEAR)
    a = np.asarray(h, np.float32)[..., None] / 255 * alpha
    return (pic * (1 - a) + np.array([255, 40, 40], np.float32) * a).round().astype(np.uint8)


def save_png(path, pixels: np.ndarray) -> Path:
    return atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))
