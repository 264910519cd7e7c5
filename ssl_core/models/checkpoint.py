"""The one checkpoint format: a single `.safetensors` file whose metadata describes it fully, and the one
place that reads model files (ours, and DINO / timm ViTs through the pure translators in `foreign.py`).

Metadata keys (each value JSON): `format` ("ssl-lab/1"), `kind` ("ssl", "classifier" or "sae"), `arch`
(rebuilds the network), `backbone_prefix` (where the evaluated network's tensors sit in the file),
`method`, `data`, `step`, `metrics`, `normalization` ({"mean", "std"}), `pool` (how its features are
pooled into one embedding: "cls" or "mean"), `config` and, in training checkpoints, `optimizer` (param
groups) and `trainer` (progress counters). Tensors: the method's state dict under `model.` and the
optimiser's state under `optim.` (absent in exported and imported checkpoints).

Nothing a file claims is trusted before it is checked: the architecture is bounded (`check_arch`) and
compared, shape by shape, with the tensors in the file (read from the header, on the meta device) before
any weight is loaded or any parameter allocated. Pickles load only through `torch.load(weights_only=True)`,
with one class allowed besides tensors: the `argparse.Namespace` in which DINO's own script saves its args.
"""

import argparse
import io
import json
import math
import pickletools
import zipfile
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ssl_core.data.augment import IMAGENET
from ssl_core.errors import UserError
from ssl_core.files import atomic_write
from ssl_core.models import build_backbone, check_arch
from ssl_core.models.foreign import translate

FORMAT = "ssl-lab/1"
EVALUATED = ("ssl", "classifier")  # the kinds whose file holds a backbone the analysis pages open


def save_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    tensors = {k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}  # no shared storage
    metadata = {k: json.dumps(v) for k, v in {"format": FORMAT, **meta}.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def save_backbone(path, model: torch.nn.Module, meta: dict) -> Path:
    """A checkpoint holding only `model` as the backbone (exports, imports, hand-made models): `arch`
    defaults to `model.arch` and `normalization` to ImageNet's mean and std."""
    meta = {"kind": "ssl", "arch": getattr(model, "arch", None), "normalization": IMAGENET, **meta,
            "backbone_prefix": "backbone."}
    return save_checkpoint(path, {f"model.backbone.{k}": v for k, v in model.state_dict().items()}, meta)


def read_metadata(path) -> dict:
    """The metadata of a .safetensors file, without reading its tensors."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path.name} is not a readable .safetensors file ({_first_line(e)}); "
                        "give an SSL Lab checkpoint, or import a DINO/timm one with `python -m ssl_core import`") from None
    meta = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v)
        except (json.JSONDecodeError, RecursionError):
            meta[k] = v
    return meta


def _is_ours(path: Path) -> bool:
    return path.suffix == ".safetensors" and read_metadata(path).get("format") == FORMAT


def _check_meta(path: Path, meta: dict) -> None:
    norm = meta.get("normalization")
    valid = {"arch": isinstance(meta.get("arch"), dict),
             "normalization": isinstance(norm, dict) and all(
                 isinstance(norm.get(k), list) and len(norm[k]) == 3 and
                 all(isinstance(v, int | float) and not isinstance(v, bool) for v in norm[k]) for k in ("mean", "std"))}
    for key, ok in valid.items():
        if not ok:
            raise UserError(f"{path.name} says it is an SSL Lab checkpoint but its metadata has no valid {key!r}; "
                            "write checkpoints with the trainer or `python -m ssl_core export`")


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """(every tensor, metadata) of an SSL Lab checkpoint; a clear error for any other file."""
    path = _existing(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise UserError(f"{path.name} is a .safetensors file but not an SSL Lab checkpoint; "
                        "import it with `python -m ssl_core import --from timm PATH --out CKPT`")
    _check_meta(path, meta)
    try:
        return load_file(str(path)), meta
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path.name} is damaged ({_first_line(e)}): use another checkpoint") from None


def expected_shapes(arch: dict) -> dict[str, tuple]:
    """{tensor name: shape} of a backbone's state dict, from a network built on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_backbone(check_arch(arch))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_fits(arch: dict, shapes: dict[str, tuple], source: str) -> None:
    """Every missing, unexpected and mis-shaped tensor of a state dict against an architecture, in one line."""
    own = expected_shapes(arch)
    missing = sorted(set(own) - set(shapes))
    unexpected = sorted(set(shapes) - set(own))
    wrong = [f"{k} {tuple(shapes[k])} vs {own[k]}" for k in sorted(set(own) & set(shapes)) if tuple(shapes[k]) != own[k]]
    problems = [f"{label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}"
                for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
                if items]
    if problems:
        raise UserError(f"{source} does not fit the model ({'; '.join(problems)}); "
                        "check that the checkpoint matches the architecture")


def read_backbone(path) -> tuple[dict[str, torch.Tensor], dict]:
    """(backbone state dict, metadata) of any model file: ours (checked against its claimed architecture
    before a tensor is read), or a DINO / timm ViT (`.pth` or `.safetensors`, translated)."""
    path = _existing(path)
    if not _is_ours(path):
        state, arch = translate(_read_foreign(path))
        check_arch(arch)
        check_fits(arch, {k: tuple(v.shape) for k, v in state.items()}, path.name)
        kind = "dino" if "dino" in path.name.lower() else "timm"
        meta = {"format": f"{kind} (opened directly; `python -m ssl_core import` converts it)", "kind": "ssl",
                "arch": arch, "backbone_prefix": "backbone.", "method": "imported", "step": None, "metrics": {},
                "normalization": IMAGENET, "source": {"kind": kind, "file": path.name}}
        return state, meta
    meta = read_metadata(path)
    _check_meta(path, meta)
    if meta.get("kind", "ssl") not in EVALUATED:
        raise UserError(f"{path.name} is a {meta.get('kind')} file, not a network's checkpoint: open it on the page "
                        "that made it (a sparse autoencoder on Dictionary)")
    prefix = "model." + str(meta.get("backbone_prefix", "backbone."))
    arch = check_arch(meta["arch"])
    try:
        with safe_open(str(path), framework="pt") as f:
            names = [k for k in f.keys() if k.startswith(prefix)]
            check_fits(arch, {k[len(prefix):]: tuple(f.get_slice(k).get_shape()) for k in names}, path.name)
            state = {k[len(prefix):]: f.get_tensor(k) for k in names}
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path.name} is damaged ({_first_line(e)}): use another checkpoint") from None
    return state, meta


@lru_cache(maxsize=64)
def _meta(path: str, mtime_ns: int, size: int) -> str:
    return json.dumps(read_backbone(path)[1])


def model_meta(path) -> dict:
    """The metadata `read_backbone` gives, memoised per path, modification time and size (a fresh copy)."""
    path = _existing(path)
    st = path.stat()
    return json.loads(_meta(str(path.resolve()), st.st_mtime_ns, st.st_size))


def load_model(path, device: str | torch.device = "cpu"):
    """(backbone in eval mode, metadata) from any model file (see `read_backbone`)."""
    state, meta = read_backbone(path)
    model = build_backbone(meta["arch"])
    model.load_state_dict(state)
    return model.to(device).eval(), meta


def import_checkpoint(src, kind: str, out) -> Path:
    """Convert a DINO/timm ViT checkpoint into an SSL Lab checkpoint (checked by building the model)."""
    src = _existing(src)
    state, arch = translate(_read_foreign(src), kind)
    check_fits(arch, {k: tuple(v.shape) for k, v in state.items()}, src.name)
    model = build_backbone(arch)
    model.load_state_dict(state)
    return save_backbone(out, model, {"arch": arch, "method": kind, "step": None, "metrics": {},
                                      "source": {"kind": kind, "file": src.name}})


def export_checkpoint(path, out) -> Path:
    """A checkpoint holding only the evaluated backbone (no heads, teacher copies or optimiser state):
    the same format, a fraction of the size, for shipping and sharing."""
    state, meta = read_backbone(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "optimizer", "trainer")}
    return save_checkpoint(out, {f"model.backbone.{k}": v for k, v in state.items()},
                           {**meta, "backbone_prefix": "backbone.", "exported_from": Path(path).name})


def describe_checkpoint(path) -> dict:
    """What the Checkpoints page and `info` show: architecture, parameter count, training metadata.
    Counted on the meta device: describing a file allocates none of its weights' memory twice."""
    path = _existing(path)
    if _is_ours(path) and read_metadata(path).get("kind") not in EVALUATED:  # e.g. an SAE: describe what it holds
        meta = read_metadata(path)
        with safe_open(str(path), framework="pt") as f:
            params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith("model."))
    else:
        _, meta = read_backbone(path)
        with torch.device("meta"):
            params = sum(p.numel() for p in build_backbone(meta["arch"]).parameters())
    return {"file": str(path), "format": meta.get("format", FORMAT), "size_mb": round(path.stat().st_size / 1e6, 2),
            "arch": meta["arch"], "params": params, **{k: meta.get(k) for k in ("kind", "method", "data", "step")},
            "metrics": meta.get("metrics") or {}, "normalization": meta.get("normalization"),
            "pool": meta.get("pool", "cls"), "source": meta.get("source")}


def _read_foreign(path: Path):
    """The object in a DINO/timm file: safetensors, or a pickle opened with weights_only (never executed)."""
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise UserError(f"{path.name} is not a readable .safetensors file ({_first_line(e)})") from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- torch raises many types for refused, truncated or foreign files
        if _is_pickle(path):
            raise UserError(f"refused {path.name}: it holds Python objects besides tensors (an unsafe pickle); "
                            "save only the state dict (torch.save(model.state_dict(), ...))") from None
        raise UserError(f"{path.name} is not a PyTorch checkpoint (the file is damaged or of another kind); "
                        "give a .pth/.safetensors ViT state dict from DINO or timm") from None


def _is_pickle(path: Path, limit: int = 1 << 26) -> bool:
    """Whether a file is a well-formed pickle (or torch's zip around one), read opcode by opcode and never
    run: a refused file that is one holds objects the safe loader will not build; otherwise it is damaged."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name)[:limit] if name else b""
        else:
            with open(path, "rb") as f:
                data = f.read(limit)
        ops = [op.name for op, _, _ in pickletools.genops(io.BytesIO(data))]
        return bool(ops) and ops[-1] == "STOP"
    except Exception:  # noqa: BLE001 -- any parse failure means "not a pickle"
        return False


def _existing(path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no checkpoint file at {path}: give the path of a .safetensors or .pth file")
    return path


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:120]
