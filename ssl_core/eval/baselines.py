"""Honest baselines that need no network: raw pixels, and colour plus position of patches."""

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval import _checks


def pixel_features(images_uint8, size: int = 32) -> torch.Tensor:
    """The raw-pixel baseline beside every kNN figure: (N, 3, H, W) uint8 -> (N, 3 * h * w) float.

    Images larger than size are area-resized (average pooling) so the longer side is `size`,
    keeping the aspect ratio; smaller ones are kept. Values are scaled to [0, 1], flattened, and
    centred per feature with the mean over this batch (so call it once on a batch, not image by
    image: a single image centres to zero). lightly reports kNN 0.355 on CIFAR-10 for raw pixels.
    """
    x = _checks.images_uint8(images_uint8)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UserError(f"size must be a positive integer, got {size!r}; try 32.")
    h, w = x.shape[-2:]
    scale = min(1.0, size / max(h, w))
    x = x.float() / 255
    if scale < 1:
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))),
                          mode="area")
    x = x.flatten(1)
    return x - x.mean(0)


def color_position_descriptors(images_uint8, patch: int) -> torch.Tensor:
    """Per non-overlapping patch, (mean R, mean G, mean B, centre x, centre y), all in [0, 1].

    (N, 3, H, W) uint8 -> (N, H // patch, W // patch, 5); rows and columns that do not fill a
    whole patch are dropped, as in a ViT patch embedding. The centre of patch (i, j) is
    ((j + 0.5) * patch / W, (i + 0.5) * patch / H) in the image's own pixel frame, so a click at
    pixel (x, y) sits in the patch whose centre is nearest (x / W, y / H). This is the plain
    colour-and-position baseline for patch similarity (the MMC paper's protocol, as `segment-eval` runs it).
    """
    x = _checks.images_uint8(images_uint8)
    n, _, h, w = x.shape
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(h, w):
        raise UserError(f"patch must be an integer between 1 and the image side {min(h, w)}, "
                        f"got {patch!r}; try 8.")
    rgb = F.avg_pool2d(x.float() / 255, patch).permute(0, 2, 3, 1)  # (N, h', w', 3)
    hp, wp = rgb.shape[1:3]
    cy = (torch.arange(hp, device=x.device) + 0.5) * patch / h
    cx = (torch.arange(wp, device=x.device) + 0.5) * patch / w
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    pos = torch.stack([xx, yy], dim=-1).expand(n, hp, wp, 2)
    return torch.cat([rgb, pos], dim=-1)
