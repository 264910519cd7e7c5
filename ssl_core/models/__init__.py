"""Backbones by name, and the random-init baseline.

A backbone has `embed_dim`, an `arch` dict that rebuilds it (`build_backbone(arch)`), `forward(x) -> (B, D)`
(the embedding) and one feature API, `forward_intermediates(x, layers, keys=, attention=)` (see the ViT).
Image backbones also have `img_size` and `patch_size` (the stride of their patch grid).

Architectures come from names the user types (`parse_backbone`) or from checkpoint metadata, which a
hostile file can fill with anything, so `check_arch` bounds every field before anything is allocated.
"""

import math

import torch

from ssl_core.errors import UserError
from ssl_core.models.cnn import ConvNet
from ssl_core.models.mlp import ACTIVATIONS, MLP
from ssl_core.models.resnet import ResNet18
from ssl_core.models.vit import SIZES, VisionTransformer

BACKBONES = {
    "vit": "a ViT sized for the data: 192-d, 6 blocks, 3 heads, patch = image side / 8 (at most 16)",
    "vit-mini": "192-d, 6 blocks, 3 heads (the classroom size)",
    "vit-tiny": "ViT-Ti: 192-d, 12 blocks, 3 heads",
    "vit-small": "ViT-S: 384-d, 12 blocks, 6 heads",
    "vit-base": "ViT-B: 768-d, 12 blocks, 12 heads",
    "resnet18": "ResNet-18, CIFAR stem up to 64 px, ImageNet stem above",
    "resnet18-cifar": "ResNet-18 with the CIFAR stem (3x3 conv, no max-pool)",
    "resnet18-imagenet": "ResNet-18 with the ImageNet stem (7x7 conv, max-pool)",
    "cnn": "a small residual ConvNet, 32-64-128-256 channels (cnn:width=16,blocks=2 to size it)",
    "mlp": "for input vectors: mlp:depth=1,hidden=128,act=relu (relu or tanh)",
    "linear": "for input vectors: no hidden layer (a linear model once a head is on top)",
}
HINT = "use vit, vit-mini, vit-tiny, vit-small or vit-base (optionally /PATCH, e.g. vit-small/16), " \
       "vit:dim=192,depth=6,heads=3,patch=4,reg=0, resnet18[-cifar|-imagenet], cnn[:width=32,blocks=1], " \
       "or for vectors mlp[:depth=1,hidden=128,act=relu] and linear"
RANDOM_INIT_SEED = 0

# Bounds on every architecture field (metadata can claim anything; nothing is built before this check).
BOUNDS = {
    "vit": {"img_size": (8, 4096), "patch_size": (1, 64), "embed_dim": (1, 4096), "depth": (1, 48),
            "num_heads": (1, 64), "mlp_ratio": (0.25, 16), "num_reg_tokens": (0, 64)},
    "resnet18": {"img_size": (8, 4096)},
    "cnn": {"img_size": (8, 4096), "width": (4, 256), "blocks": (1, 8)},
    "mlp": {"in_dim": (1, 1 << 16), "hidden": (1, 1 << 14), "depth": (0, 16)},
}
KINDS = {"vit": VisionTransformer, "resnet18": ResNet18, "cnn": ConvNet, "mlp": MLP}


def default_patch(img_size: int) -> int:
    return max(4, min(16, img_size // 8))


def _options(spec: str, text: str, keys: dict[str, str], floats=()) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        k, _, v = item.partition("=")
        k = k.strip()
        if k not in keys:
            raise UserError(f"unknown option {k!r} in {spec!r}: options are {', '.join(keys)}")
        if k in floats or v.strip().isalpha():
            out[keys[k]] = float(v) if k in floats else v.strip()
            continue
        try:
            out[keys[k]] = int(v)
        except ValueError:
            raise UserError(f"option {k}={v!r} in {spec!r} is not a whole number") from None
    return out


def parse_backbone(spec: str, img_size: int = 32, in_dim: int | None = None) -> dict:
    """Turn a backbone name into an `arch` dict (see BACKBONES and HINT). Vector backbones (mlp, linear)
    take the data's input width `in_dim`; image backbones its side `img_size`."""
    spec = spec.strip().lower()
    name, _, opts = spec.partition(":")
    if name in ("mlp", "linear"):
        if in_dim is None:
            raise UserError(f"{name} reads input vectors, but this data is images: use vit, cnn or resnet18")
        arch = dict(name="mlp", in_dim=in_dim, hidden=128, depth=1 if name == "mlp" else 0, activation="relu")
        if name == "mlp":
            arch.update(_options(spec, opts, {"depth": "depth", "hidden": "hidden", "act": "activation"}))
            if arch["depth"] < 1:
                raise UserError(f"an MLP has at least one hidden layer (got depth {arch['depth']}): use linear for none")
        return check_arch(arch)
    if in_dim is not None:
        raise UserError(f"{spec} reads images, but this data is vectors: use mlp or linear")
    if spec.startswith("resnet18"):
        stem = spec.removeprefix("resnet18").lstrip("-") or ("cifar" if img_size <= 64 else "imagenet")
        if stem not in ("cifar", "imagenet"):
            raise UserError(f"unknown backbone {spec!r}: {HINT}")
        return check_arch(dict(name="resnet18", stem=stem, img_size=img_size))
    if name == "cnn":
        arch = dict(name="cnn", width=32, blocks=1, img_size=img_size)
        return check_arch({**arch, **_options(spec, opts, {"width": "width", "blocks": "blocks"})})
    if not spec.startswith("vit"):
        raise UserError(f"unknown backbone {spec!r}: {HINT}")
    arch = dict(name="vit", img_size=img_size, patch_size=default_patch(img_size), mlp_ratio=4.0, qkv_bias=True,
                num_reg_tokens=0, **SIZES["mini"])
    name, _, patch = spec.partition("/")
    if ":" in name:
        keys = {"dim": "embed_dim", "depth": "depth", "heads": "num_heads", "patch": "patch_size",
                "reg": "num_reg_tokens", "mlp": "mlp_ratio"}
        arch.update(_options(spec, name.split(":", 1)[1], keys, floats=("mlp",)))
    elif name != "vit":
        size = name.removeprefix("vit-")
        if size not in SIZES:
            raise UserError(f"unknown backbone {spec!r}: {HINT}")
        arch.update(SIZES[size])
    if patch:
        if not patch.isdigit():
            raise UserError(f"patch size in {spec!r} must be a whole number")
        arch["patch_size"] = int(patch)
    return check_arch(arch)


def check_arch(arch) -> dict:
    """The `arch` dict if it describes a buildable network of sane size, else a one-line UserError.

    Cheap by construction: it reads numbers and allocates nothing, so a checkpoint whose metadata claims
    a ViT of depth 10,000 is refused before a single parameter exists."""
    if not isinstance(arch, dict) or arch.get("name") not in KINDS:
        got = arch.get("name") if isinstance(arch, dict) else type(arch).__name__
        raise UserError(f"unknown architecture {got!r}: SSL Lab builds {', '.join(KINDS)}")
    kind = arch["name"]
    allowed = {"name", "stem", "qkv_bias", "activation", *BOUNDS[kind]}
    unknown = set(arch) - allowed
    if unknown:
        raise UserError(f"the {kind} architecture has no field {', '.join(sorted(map(str, unknown)))}: "
                        f"its fields are {', '.join(sorted(allowed))}")
    for key, (lo, hi) in BOUNDS[kind].items():
        v = arch.get(key)
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
        if not ok or (key != "mlp_ratio" and v != int(v)):
            raise UserError(f"{kind} {key} = {v!r} is out of range: it must be a number from {lo} to {hi}")
    if kind == "vit":
        if arch["embed_dim"] % arch["num_heads"]:
            raise UserError(f"ViT width {arch['embed_dim']} is not divisible by {arch['num_heads']} heads")
        if arch["patch_size"] > arch["img_size"] or arch["img_size"] % arch["patch_size"]:
            raise UserError(f"a {arch['img_size']}px image does not tile into {arch['patch_size']}px patches: "
                            f"pick a patch size that divides {arch['img_size']}")
        if (arch["img_size"] // arch["patch_size"]) ** 2 > 16384:
            raise UserError(f"{arch['img_size']}px in {arch['patch_size']}px patches is more than 16,384 tokens: "
                            "use larger patches or a smaller image size")
    if kind == "resnet18" and arch.get("stem") not in ("cifar", "imagenet"):
        raise UserError(f"unknown ResNet stem {arch.get('stem')!r}: use cifar or imagenet")
    if kind == "mlp" and arch.get("activation") not in ACTIVATIONS:
        raise UserError(f"unknown activation {arch.get('activation')!r}: use relu or tanh")
    return arch


def build_backbone(arch: dict | str, img_size: int | None = None):
    """Build a backbone from an `arch` dict (as stored in checkpoints) or a name (see BACKBONES)."""
    if isinstance(arch, str):
        arch = parse_backbone(arch, img_size or 32)
    arch = check_arch(arch)
    return KINDS[arch["name"]](**{k: v for k, v in arch.items() if k != "name"})


def random_init(arch: dict) -> torch.nn.Module:
    """The random-init baseline: this architecture with fresh weights from one fixed seed, so "random init"
    is the same network on the Train page, in `eval`, on Look and on Map. In eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return build_backbone(arch).eval()
