"""Import ViT checkpoints from DINO and timm, inferring the architecture from tensor shapes.

Pickled files load only through `torch.load(weights_only=True)`: a file that carries Python objects
besides tensors is refused, never executed. DINO's full training checkpoints wrap the weights in
`teacher` / `student` with `module.` and `backbone.` prefixes; we take the teacher, as DINO does for
evaluation. Heads (`head.*`, `fc_norm.*`) are not part of the backbone and are left out.
"""

import math
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ssl_core.errors import UserError

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
KINDS = ("dino", "timm")
_DROP = ("head.", "fc_norm.", "head_drop.", "pre_logits.")


def _load_raw(path: Path):
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise UserError(f"{path.name} is not a readable .safetensors file ({str(e)[:100]})") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"refused {path.name}: it holds Python objects besides tensors (an unsafe pickle); "
                        "save only the state dict (torch.save(model.state_dict(), ...))") from None
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise UserError(f"{path.name} is not a PyTorch checkpoint I can read ({type(e).__name__}); "
                        "give a .pth/.safetensors ViT state dict from DINO or timm") from None


def _unwrap(obj) -> dict[str, torch.Tensor]:
    """Find the ViT state dict inside DINO/timm wrappers and strip their prefixes."""
    if not isinstance(obj, dict):
        raise UserError("the file holds no state dict: expected a mapping of parameter names to tensors")
    for key in ("teacher", "model", "state_dict", "student"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    state = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        for prefix in ("module.", "backbone.", "_orig_mod."):
            k = k.removeprefix(prefix)
        state[k] = v
    state = {k: v for k, v in state.items() if not k.startswith(_DROP)}
    if "register_tokens" in state:  # DINOv2's name for timm's reg_token
        state["reg_token"] = state.pop("register_tokens")
    return state


def infer_vit_arch(state: dict) -> dict:
    """The ViT's `arch` dict from its tensor shapes (heads: the usual 64-dimensional heads)."""
    needed = ("cls_token", "pos_embed", "patch_embed.proj.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise UserError(f"not a ViT state dict (missing {', '.join(missing)}); SSL Lab imports DINO and timm ViTs")
    dim = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    n_pos = state["pos_embed"].shape[1]
    grid = math.isqrt(n_pos - 1)
    if grid * grid != n_pos - 1:
        grid = math.isqrt(n_pos)
        if grid * grid != n_pos:
            raise UserError(f"pos_embed has {n_pos} positions, not a square grid: cannot infer the image size")
        # timm's no_embed_class: the class token gets no position, i.e. a zero one in our layout.
        state["pos_embed"] = torch.cat([torch.zeros_like(state["pos_embed"][:, :1]), state["pos_embed"]], dim=1)
    return dict(name="vit", img_size=grid * patch, patch_size=patch, embed_dim=dim, depth=depth,
                num_heads=max(1, dim // 64), mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
                qkv_bias="blocks.0.attn.qkv.bias" in state,
                num_reg_tokens=state["reg_token"].shape[1] if "reg_token" in state else 0)


def read_foreign(path, kind: str | None = None) -> tuple[dict, dict]:
    """(backbone state dict, metadata) of a DINO or timm ViT checkpoint file."""
    path = Path(path).expanduser()
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown checkpoint kind {kind!r}: use --from dino or --from timm")
    state = _unwrap(_load_raw(path))
    arch = infer_vit_arch(state)
    meta = {"arch": arch, "backbone_prefix": "backbone.", "method": kind or "imported", "step": None,
            "metrics": {}, "normalization": IMAGENET, "source": {"kind": kind or "auto", "file": path.name}}
    return state, meta


def import_checkpoint(src, kind: str, out) -> Path:
    """Convert a DINO/timm ViT checkpoint into an SSL Lab checkpoint (checked by building the model)."""
    from ssl_core.models import build_backbone
    from ssl_core.models.checkpoint import load_state_strict, save_backbone

    state, meta = read_foreign(src, kind)
    model = build_backbone(meta["arch"])
    load_state_strict(model, state, Path(src).name)
    return save_backbone(out, model, meta)
