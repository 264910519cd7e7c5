"""Translate DINO and timm ViT state dicts into ours: pure functions, no file I/O (after timm's
`checkpoint_filter_fn`). Reading the files (safely) and writing imports live in `checkpoint.py`.

DINO's full training checkpoints wrap the weights in `teacher` / `student` with `module.` and `backbone.`
prefixes; we take the teacher, as DINO does for evaluation. Heads (`head.*`, `fc_norm.*`) are not part of
the backbone and are left out. DINOv2 calls timm's `reg_token` `register_tokens`; timm's `no_embed_class`
ViTs have no position for the class token, which is a zero one in our layout. The architecture is read
off the tensor shapes.
"""

import math

import torch

from ssl_core.errors import UserError

KINDS = ("dino", "timm")
_DROP = ("head.", "fc_norm.", "head_drop.", "pre_logits.")
_WRAPPERS = ("teacher", "model", "state_dict", "student")
_PREFIXES = ("module.", "backbone.", "_orig_mod.")


def unwrap(obj) -> dict[str, torch.Tensor]:
    """The ViT state dict inside a DINO/timm file's object, with their prefixes stripped."""
    if not isinstance(obj, dict):
        raise UserError("the file holds no state dict: expected a mapping of parameter names to tensors")
    for key in _WRAPPERS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor) or not isinstance(k, str):
            continue
        for prefix in _PREFIXES:
            k = k.removeprefix(prefix)
        if not k.startswith(_DROP):
            state[k] = v
    if "register_tokens" in state:
        state["reg_token"] = state.pop("register_tokens")
    return state


def infer_vit_arch(state: dict) -> dict:
    """The ViT's `arch` dict from its tensor shapes (heads: the usual 64-dimensional heads)."""
    needed = ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise UserError(f"not a ViT state dict (missing {', '.join(missing)}); SSL Lab imports DINO and timm ViTs")
    blocks = {k.split(".")[1] for k in state if k.startswith("blocks.")}
    if not all(b.isdigit() for b in blocks):
        raise UserError("the ViT's block names are not numbered blocks.N.*: not a DINO or timm ViT")
    dim = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    n_pos = state["pos_embed"].shape[1] if state["pos_embed"].ndim == 3 else 0
    grid = math.isqrt(max(0, n_pos - 1))
    if grid * grid != n_pos - 1:
        grid = math.isqrt(n_pos)
        if grid == 0 or grid * grid != n_pos:
            raise UserError(f"pos_embed has {n_pos} positions, not a square grid: cannot infer the image size")
    return dict(name="vit", img_size=grid * patch, patch_size=patch, embed_dim=dim,
                depth=1 + max(int(b) for b in blocks), num_heads=max(1, dim // 64),
                mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / dim, qkv_bias="blocks.0.attn.qkv.bias" in state,
                num_reg_tokens=state["reg_token"].shape[1] if "reg_token" in state else 0)


def translate(obj, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(our backbone state dict, its arch) from the object a DINO or timm checkpoint file holds."""
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown checkpoint kind {kind!r}: use --from dino or --from timm")
    state = unwrap(obj)
    arch = infer_vit_arch(state)
    n_pos = state["pos_embed"].shape[1]
    if n_pos == (arch["img_size"] // arch["patch_size"]) ** 2:  # no_embed_class: give the class token a zero one
        state["pos_embed"] = torch.cat([torch.zeros_like(state["pos_embed"][:, :1]), state["pos_embed"]], dim=1)
    return state, arch
