"""Which input pixels make a region similar to the clicked patch? Attributions with captum.

The explained quantity is a scalar function of the input image: the mean cosine similarity between
the patches of a region (a mask, weighted by how much of each patch it covers) and the prompt (the
unit feature of the clicked patches, fixed from the unperturbed image). Three methods:

- Integrated Gradients (Sundararajan et al., 2017): gradients along the straight path from a baseline
  (the mean colour: zero after normalisation) to the image, times (image - baseline).
- Occlusion (Zeiler and Fergus, 2014) with windows of exactly one patch, stepped by one patch: how
  much the similarity drops when each patch is replaced by the mean colour.
- Grad-CAM (Selvaraju et al., 2017, eq. 1-2) on the patch tokens of a block (or a CNN stage's map) as a
  grid A (rows, cols, D): alpha_d = mean over the grid of d target / d A_d, map = ReLU(sum_d alpha_d A_d).
  Written here on the backbones' feature API (captum's LayerGradCam needs a module to hook inside the
  network; `forward_intermediates` hands us the block's output directly).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from captum.attr import IntegratedGradients, Occlusion

from ssl_core.analysis.similarity import extract_patch_features, grid_features, model_input, prompt_vectors
from ssl_core.errors import UserError

METHODS = {
    "integrated_gradients": "Integrated Gradients: gradient x input along a path from the mean colour",
    "occlusion": "Occlusion: similarity drop when each patch is greyed out",
    "gradcam": "Grad-CAM: token gradients averaged over the grid, times the tokens",
}


class SimilarityTarget(nn.Module):
    """x (B, 3, H, W) normalised -> (B,) weighted mean cosine similarity of region patches to `prompt`."""

    def __init__(self, model, prompt: torch.Tensor, weights: torch.Tensor, layer: int = -1, feature: str = "tokens"):
        super().__init__()
        self.model, self.layer, self.feature = model, layer, feature
        self.register_buffer("prompt", F.normalize(prompt.float(), dim=-1))
        self.register_buffer("weights", weights.float() / weights.float().sum().clamp_min(1e-12))

    def score(self, grid: torch.Tensor) -> torch.Tensor:
        sim = F.normalize(grid.float(), dim=-1) @ self.prompt  # (B, rows, cols)
        return (sim * self.weights).flatten(1).sum(1)

    def forward(self, x):
        return self.score(grid_features(self.model, x, self.layer, self.feature))


def gradcam(target: SimilarityTarget, x: torch.Tensor, cam_layer: int) -> torch.Tensor:
    """Grad-CAM of the target on block (or stage) `cam_layer`: (rows, cols) of that block's grid."""
    model, layer = target.model, target.layer
    cam, last = model.check_layer(cam_layer), model.check_layer(layer)
    if cam > last:
        raise UserError(f"the Grad-CAM block {cam} comes after the feature block {last}: pick one at or before it")
    keys = target.feature == "keys"
    a_item, f_item = model.forward_intermediates(x, [cam, last], keys=keys)
    score = target.score(f_item["keys"] if keys else f_item["patch"]).sum()
    if keys and cam == last:  # Grad-CAM on the keys themselves
        acts = a_item["keys"]
        (grads,) = torch.autograd.grad(score, acts)
    else:  # differentiate the block's (stage's) own output, then read it as a grid
        base = a_item["tokens"] if "tokens" in a_item else a_item["map"]
        (g,) = torch.autograd.grad(score, base)
        if "tokens" in a_item:
            to_grid = lambda t: t[:, model.num_prefix_tokens:].reshape(a_item["patch"].shape)  # noqa: E731
        else:
            to_grid = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731
        acts, grads = to_grid(base), to_grid(g)
    alpha = grads.float().mean(dim=(1, 2), keepdim=True)
    return F.relu((alpha * acts.float()).sum(-1))[0]


def attribute(model, image: np.ndarray, points, method: str = "integrated_gradients", normalization=None,
              region: np.ndarray | None = None, size: int | None = None, layer: int = -1, feature: str = "tokens",
              cam_layer: int | None = None, steps: int = 16) -> np.ndarray:
    """(H, W) float32 attribution over the original image for the similarity of `region` (a boolean
    (H, W) mask; default: the whole image) to the patches under `points` [(x, y), ...]."""
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
    target = SimilarityTarget(model, prompt, weights, layer, feature).to(device).eval()
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
            cam = gradcam(target, x, layer if cam_layer is None else cam_layer)
            return frame.to_image(_resize_grid(cam.detach().cpu(), frame.grid))
    return input_to_image(pixels.detach().float().cpu().numpy(), frame)


def _resize_grid(grid: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """A CNN stage's map onto the frame's patch grid (they differ when the stage's stride is not the patch)."""
    if tuple(grid.shape) != tuple(shape):
        grid = F.interpolate(grid[None, None], size=shape, mode="bilinear", align_corners=False)[0, 0]
    return grid.numpy()


def input_to_image(a: np.ndarray, frame) -> np.ndarray:
    """A map over the model's (padded) input pixels -> the original image's pixels."""
    t = torch.as_tensor(a[: frame.rh, : frame.rw], dtype=torch.float32)[None, None]
    if (frame.rh, frame.rw) != (frame.height, frame.width):
        t = F.interpolate(t, size=(frame.height, frame.width), mode="bilinear", align_corners=False)
    return t[0, 0].numpy()
