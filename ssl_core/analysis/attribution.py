"""Which input pixels make a region similar to the clicked patch? Attributions with captum.

The explained quantity is a scalar function of the input image: the mean cosine similarity between
the patches of a region (a mask, weighted by how much of each patch it covers) and the prompt (the
unit feature of the clicked patches, fixed from the unperturbed image). Three methods:

- Integrated Gradients (Sundararajan et al., 2017): gradients along the straight path from a baseline
  (the mean colour: zero after normalisation) to the image, times (image - baseline).
- Occlusion (Zeiler and Fergus, 2014) with windows of exactly one patch, stepped by one patch: how
  much the similarity drops when each patch is replaced by the mean colour.
- Grad-CAM (Selvaraju et al., 2017) on the patch tokens of a block, reshaped to their grid (B, D, rows,
  cols) so that captum's LayerGradCam averages gradients over the grid as it does over a CNN's map.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.errors import UserError

METHODS = {
    "integrated_gradients": "Integrated Gradients: gradient x input along a path from the mean colour",
    "occlusion": "Occlusion: similarity drop when each patch is greyed out",
    "gradcam": "Grad-CAM: token gradients averaged over the grid, times the tokens",
}


class SimilarityTarget(nn.Module):
    """x (B, 3, H, W) normalised -> (B,) weighted mean cosine similarity of region patches to `prompt`.

    `tap` is an identity module that sees the Grad-CAM layer's patch tokens as a (B, D, rows, cols) grid.
    """

    def __init__(self, model, prompt: torch.Tensor, weights: torch.Tensor, layer: int = -1, feature: str = "tokens",
                 cam_layer: int | None = None):
        super().__init__()
        self.model, self.layer, self.feature = model, layer, feature
        self.register_buffer("prompt", F.normalize(prompt.float(), dim=-1))
        self.register_buffer("weights", weights.float() / weights.float().sum().clamp_min(1e-12))
        self.cam_layer = layer if cam_layer is None else cam_layer
        self.tap = nn.Identity()

    def _grid(self, x):
        m = self.model
        if not hasattr(m, "blocks"):  # ResNet: the last feature map is the grid
            return self.tap(m.feature_map(x)).permute(0, 2, 3, 1)
        depth = len(m.blocks)
        last, cam = self.layer % depth, self.cam_layer % depth
        if cam > last:
            raise UserError(f"the Grad-CAM block {cam} comes after the feature block {last}: pick one at or before it")
        gh, gw = m.grid_size(*x.shape[-2:])
        p = m.num_prefix_tokens
        t = m.prepare_tokens(x)
        keys = None
        for i, blk in enumerate(m.blocks[: last + 1]):
            t, extra = blk(t, self.feature == "keys" and i == last)
            if extra is not None:
                keys = extra["keys"]
            if i == cam and not (self.feature == "keys" and i == last):
                grid = self.tap(t[:, p:].transpose(1, 2).reshape(t.shape[0], -1, gh, gw))
                t = torch.cat([t[:, :p], grid.flatten(2).transpose(1, 2)], dim=1)
        if self.feature == "keys":
            k = keys[:, :, p:].permute(0, 2, 1, 3).reshape(x.shape[0], gh * gw, -1)
            if cam == last:  # Grad-CAM directly on the keys
                k = self.tap(k.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)).flatten(2).transpose(1, 2)
            return k.reshape(x.shape[0], gh, gw, -1)
        if last == depth - 1:
            t = m.norm(t)
        return t[:, p:].reshape(x.shape[0], gh, gw, -1)

    def forward(self, x):
        g = F.normalize(self._grid(x).float(), dim=-1)
        sim = g @ self.prompt  # (B, rows, cols)
        return (sim * self.weights).flatten(1).sum(1)


def attribute(model, image: np.ndarray, points, method: str = "integrated_gradients", normalization=None,
              region: np.ndarray | None = None, size: int | None = None, layer: int = -1, feature: str = "tokens",
              cam_layer: int | None = None, steps: int = 16) -> np.ndarray:
    """(H, W) float32 attribution over the original image for the similarity of `region` (a boolean
    (H, W) mask; default: the whole image) to the patches under `points` [(x, y), ...]."""
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion

    from ssl_core.analysis.similarity import (
        extract_patch_features,
        model_input,
        prompt_vectors,
    )

    if method not in METHODS:
        raise UserError(f"unknown attribution method {method!r}: use {', '.join(METHODS)}")
    points = list(points)
    if not points:
        raise UserError("click a patch first: attributions explain the similarity to a clicked patch")
    feats = extract_patch_features(model, image, normalization, size, layer, feature)
    frame = feats.frame
    prompt = torch.from_numpy(prompt_vectors(feats, points)).mean(0)
    if region is None:
        region = np.ones((frame.height, frame.width), bool)
    weights = torch.from_numpy(frame.grid_fraction(region))
    if weights.sum() <= 0:
        raise UserError("the region is empty: there is no similarity to explain (lower the threshold)")
    device = next(model.parameters()).device
    target = SimilarityTarget(model, prompt, weights, layer, feature, cam_layer).to(device).eval()
    x = model_input(image, frame, normalization).to(device)
    with torch.enable_grad():  # captum differentiates with respect to the input only: no weight gradients
        if method == "integrated_gradients":
            a = IntegratedGradients(target).attribute(x, baselines=torch.zeros_like(x), n_steps=steps,
                                                      internal_batch_size=max(1, min(steps, 8)))
            pixels = a[0].sum(0)
        elif method == "occlusion":
            p = frame.patch
            a = Occlusion(target).attribute(x, sliding_window_shapes=(3, p, p), strides=(3, p, p), baselines=0.0,
                                            perturbations_per_eval=16)
            pixels = a[0].mean(0)
        else:
            a = LayerGradCam(target, target.tap).attribute(x, relu_attributions=True)  # (1, 1, rows, cols)
            return frame.to_image(a[0, 0].detach().float().cpu().numpy())
    return input_to_image(pixels.detach().float().cpu().numpy(), frame)


def input_to_image(a: np.ndarray, frame) -> np.ndarray:
    """A map over the model's (padded) input pixels -> the original image's pixels."""
    t = torch.as_tensor(a[: frame.rh, : frame.rw], dtype=torch.float32)[None, None]
    if (frame.rh, frame.rw) != (frame.height, frame.width):
        t = F.interpolate(t, size=(frame.height, frame.width), mode="bilinear", align_corners=False)
    return t[0, 0].numpy()
