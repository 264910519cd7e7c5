"""Attention maps as DINO's visualize_attention draws them (Caron et al. 2021, Fig. 1 and 3).

- Per head, a block's attention from CLS to every patch (DINO shows the last block's).
- DINO's mass threshold t (0.6 in the paper's figures): keep the smallest set of patches that holds a
  fraction t of a head's attention mass.
- Attention rollout (Abnar and Zuidema, 2020): per layer, average the heads, add the identity for the
  residual path, renormalise the rows, and multiply the layers' matrices together.

The fused attention kernel returns no weights, so the ViT computes them explicitly when
`forward_intermediates(..., attention=True)` asks, and only then.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_core.analysis.similarity import check_image, make_frame, model_input
from ssl_core.errors import UserError

DINO_MASS = 0.6


def _require_vit(model) -> None:
    if not hasattr(model, "blocks"):
        raise UserError("attention maps need a ViT: this model is a ResNet, which has no attention "
                        "(use the similarity map or PCA instead)")


@torch.no_grad()
def all_attentions(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Attention weights (B, heads, T, T) of every block, for a normalised input batch."""
    _require_vit(model)
    return [i["attn"].float() for i in model.forward_intermediates(x, range(len(model.blocks)), attention=True)]


@torch.no_grad()
def cls_attention(model, x: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Block `layer`'s attention from CLS to every patch, per head: (B, heads, rows, cols)."""
    _require_vit(model)
    gh, gw = model.grid_size(*x.shape[-2:])
    a = model.forward_intermediates(x, [layer], attention=True)[0]["attn"].float()[:, :, 0, model.num_prefix_tokens:]
    return a.reshape(x.shape[0], a.shape[1], gh, gw)


def mass_threshold(attn, mass: float = DINO_MASS) -> np.ndarray:
    """Boolean masks (..., rows, cols): per map, the smallest set of patches holding `mass` of its total.

    As DINO: sort ascending, normalise, cumulative sum, keep the weights whose cumulative sum exceeds
    1 - mass."""
    if not 0 < mass <= 1:
        raise UserError(f"attention mass {mass:g} must be in (0, 1]: DINO uses 0.6")
    a = torch.as_tensor(np.asarray(attn, dtype=np.float32))
    shape = a.shape
    flat = a.reshape(-1, shape[-2] * shape[-1])
    val, idx = torch.sort(flat, dim=1)
    val = val / val.sum(dim=1, keepdim=True).clamp_min(1e-12)
    keep_sorted = torch.cumsum(val, dim=1) > (1 - mass)
    keep = torch.zeros_like(keep_sorted).scatter_(1, idx, keep_sorted)
    return keep.reshape(shape).numpy()


def mass_inside(attn, inside, mass: float = DINO_MASS) -> float:
    """How much of a map's kept attention falls on the object, averaged over maps (heads, images).

    attn (..., rows, cols) attention from CLS; inside (..., rows, cols) or (rows, cols) the fraction of each
    patch the object covers. Per map: keep DINO's smallest set holding `mass` of the attention
    (`mass_threshold`), then sum(kept a * inside) / sum(kept a). A network that attends uniformly scores the
    object's share of the image; one that attends to the object scores near 1."""
    a = np.asarray(attn, dtype=np.float32)
    kept = a * mass_threshold(a, mass)
    share = (kept * np.broadcast_to(np.asarray(inside, np.float32), a.shape)).sum((-2, -1))
    return float((share / np.maximum(kept.sum((-2, -1)), 1e-12)).mean())


def rollout(attentions, discard_prefix: int = 1, head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout from a list of per-layer attentions (B, heads, T, T) -> (B, T, T).

    A_l = normalise_rows(fuse_heads(attn_l) + I); rollout = A_L @ ... @ A_1. Row 0 of the result,
    from the prefix tokens on, is CLS's rolled-out attention to the patches."""
    if not attentions:
        raise UserError("attention rollout needs at least one layer")
    result = None
    for a in attentions:
        a = torch.as_tensor(a).float()
        fused = a.mean(dim=1) if head_fusion == "mean" else a.amax(dim=1)
        eye = torch.eye(fused.shape[-1], dtype=fused.dtype).expand_as(fused)
        fused = fused + eye
        fused = fused / fused.sum(dim=-1, keepdim=True)
        result = fused if result is None else fused @ result
    return result


@torch.no_grad()
def rollout_map(model, x: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """CLS's rolled-out attention to each patch: (B, rows, cols)."""
    gh, gw = model.grid_size(*x.shape[-2:])
    r = rollout(all_attentions(model, x), head_fusion=head_fusion)
    return r[:, 0, model.num_prefix_tokens:].reshape(x.shape[0], gh, gw)


def image_attention(model, image: np.ndarray, normalization: dict | None = None, size: int | None = None,
                    mass: float = DINO_MASS, with_rollout: bool = True, layer: int = -1) -> dict:
    """Everything the Look page shows for one (H, W, 3) uint8 image, on the patch grid:
    {"heads": (heads, rows, cols) of block `layer`, "masks": bool (heads, rows, cols), "rollout": (rows, cols),
    "frame", "layer"}."""
    _require_vit(model)
    layer = model.check_layer(layer)
    image = check_image(image, model.patch_size)
    frame = make_frame(image.shape[1], image.shape[0], model.patch_size, int(size or model.img_size))
    x = model_input(image, frame, normalization).to(next(model.parameters()).device)
    if with_rollout:
        atts = all_attentions(model, x)
        gh, gw = frame.grid
        chosen = atts[layer][0, :, 0, model.num_prefix_tokens:].reshape(-1, gh, gw)
        roll = rollout(atts)[0, 0, model.num_prefix_tokens:].reshape(gh, gw).numpy()
    else:
        chosen, roll = cls_attention(model, x, layer)[0], None
    heads = chosen.cpu().numpy()
    return {"heads": heads, "masks": mass_threshold(heads, mass), "rollout": roll, "frame": frame, "layer": layer}
