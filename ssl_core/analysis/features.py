"""Run a backbone over a uint8 image tensor in batches and collect its features."""

import torch

from ssl_core.data import normalize
from ssl_core.devices import autocast


@torch.no_grad()
def extract(backbone, images: torch.Tensor, normalization: dict, patches: bool = False, batch_size: int = 256,
            layer: int = -1, device=None, bf16: bool = False):
    """Features of `images` (N, 3, H, W) uint8: CLS/pooled (N, D) float32, and with `patches` also the
    patch grid (N, h, w, D). Images are used at their own size (already the model's, in a dataset)."""
    device = device or next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    cls_out, patch_out = [], []
    for i in range(0, len(images), batch_size):
        x = normalize(images[i:i + batch_size].to(device), normalization["mean"], normalization["std"])
        with autocast(device, bf16):
            cls, grid = backbone.features(x, layer)
        cls_out.append(cls.float().cpu())
        if patches:
            patch_out.append(grid.float().cpu())
    backbone.train(was_training)
    cls = torch.cat(cls_out) if cls_out else torch.empty(0)
    return (cls, torch.cat(patch_out)) if patches else cls
