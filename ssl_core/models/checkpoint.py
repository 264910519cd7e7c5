"""The one checkpoint format: a single `.safetensors` file whose metadata describes it fully.

Metadata keys (each value JSON): `format` ("ssl-lab/1"), `arch` (rebuilds the backbone),
`backbone_prefix` (where the evaluated backbone's tensors sit in the file), `method`, `data`,
`step`, `metrics`, `normalization` ({"mean", "std"}), `config` and, in training checkpoints,
`optimizer` (param groups) and `trainer` (progress counters). Tensors: the method's state dict under
`model.` and the optimiser's state under `optim.` (absent in exported and imported checkpoints).

Files are written to a temporary name, then renamed, so a crash never leaves half a checkpoint.
"""

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ssl_core.errors import UserError

FORMAT = "ssl-lab/1"


def save_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}  # no shared storage
    metadata = {k: json.dumps(v) for k, v in {"format": FORMAT, **meta}.items()}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def save_backbone(path, model: torch.nn.Module, meta: dict) -> Path:
    """A checkpoint holding only `model` as the backbone (exports, imports, hand-made models): `arch`
    defaults to `model.arch` and `normalization` to ImageNet's mean and std."""
    from ssl_core.data.augment import IMAGENET_MEAN, IMAGENET_STD

    meta = {"arch": getattr(model, "arch", None), "normalization": {"mean": list(IMAGENET_MEAN),
                                                                      "std": list(IMAGENET_STD)},
            **meta, "backbone_prefix": "backbone."}
    return save_checkpoint(path, {f"model.backbone.{k}": v for k, v in model.state_dict().items()}, meta)


def read_metadata(path) -> dict:
    """The metadata of one of our checkpoints, without reading its tensors."""
    path = _existing(path)
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path.name} is not a readable .safetensors file ({_first_line(e)}); "
                        "give an SSL Lab checkpoint, or import a DINO/timm one with `python -m ssl_core import`") from None
    meta = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            meta[k] = v
    return meta


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of an SSL Lab checkpoint; a clear error for any other file."""
    path = _existing(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise UserError(f"{path.name} is a .safetensors file but not an SSL Lab checkpoint; "
                        "import it with `python -m ssl_core import --from timm PATH --out CKPT`")
    norm = meta.get("normalization")
    valid = {"arch": isinstance(meta.get("arch"), dict),
             "normalization": isinstance(norm, dict) and all(len(norm.get(k) or ()) == 3 for k in ("mean", "std"))}
    for key, ok in valid.items():
        if not ok:
            raise UserError(f"{path.name} says it is an SSL Lab checkpoint but its metadata has no valid {key!r}; "
                            "write checkpoints with the trainer or `python -m ssl_core export`")
    return load_file(str(path)), meta


def backbone_state(tensors: dict, meta: dict) -> dict[str, torch.Tensor]:
    prefix = "model." + meta.get("backbone_prefix", "backbone.")
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_state_strict(module: torch.nn.Module, state: dict, source: str) -> None:
    """load_state_dict that reports every missing, unexpected and mis-shaped key in one line."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(set(own) & set(state))
              if state[k].shape != own[k].shape]
    problems = [f"{label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}"
                for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes))
                if items]
    if problems:
        raise UserError(f"{source} does not fit the model ({'; '.join(problems)}); "
                        "check that the checkpoint matches the architecture")
    module.load_state_dict(state)


def load_model(path, device: str | torch.device = "cpu"):
    """(backbone in eval mode, metadata) from an SSL Lab checkpoint, or a DINO/timm ViT file (imported on the fly)."""
    from ssl_core.models import build_backbone
    from ssl_core.models.foreign import read_foreign

    path = _existing(path)
    if path.suffix == ".safetensors" and read_metadata(path).get("format") == FORMAT:
        tensors, meta = read_checkpoint(path)
        state = backbone_state(tensors, meta)
    else:
        state, meta = read_foreign(path)
    model = build_backbone(meta["arch"])
    load_state_strict(model, state, path.name)
    return model.to(device).eval(), meta


def export_checkpoint(path, out) -> Path:
    """A checkpoint holding only the evaluated backbone (no heads, teacher copies or optimiser state):
    the same format, a fraction of the size, for shipping and sharing."""
    tensors, meta = read_checkpoint(path)
    state = backbone_state(tensors, meta)
    meta = {k: v for k, v in meta.items() if k not in ("format", "optimizer", "trainer")}
    return save_checkpoint(out, {f"model.backbone.{k}": v for k, v in state.items()},
                           {**meta, "backbone_prefix": "backbone.", "exported_from": Path(path).name})


def describe_checkpoint(path) -> dict:
    """What the Checkpoints page and `info` show: architecture, parameter count, training metadata."""
    path = _existing(path)
    model, meta = load_model(path)
    return {
        "file": str(path),
        "format": meta.get("format", FORMAT),
        "size_mb": round(path.stat().st_size / 1e6, 2),
        "arch": meta["arch"],
        "params": sum(p.numel() for p in model.parameters()),
        "method": meta.get("method"),
        "data": meta.get("data"),
        "step": meta.get("step"),
        "metrics": meta.get("metrics", {}),
        "normalization": meta.get("normalization"),
        "source": meta.get("source"),
    }


def _existing(path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no checkpoint file at {path}: give the path of a .safetensors or .pth file")
    return path


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:120]
