"""Backbones by name. A backbone has `embed_dim`, `patch_size`, `img_size`, an `arch` dict that rebuilds
it (`build_backbone(arch)`), `forward(x) -> (B, D)` and `patch_features(x, layer) -> (B, h, w, D)`."""

from ssl_core.errors import UserError
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
}
HINT = "use vit, vit-mini, vit-tiny, vit-small or vit-base (optionally /PATCH, e.g. vit-small/16), " \
       "vit:dim=192,depth=6,heads=3,patch=4,reg=0, or resnet18[-cifar|-imagenet]"


def default_patch(img_size: int) -> int:
    return max(4, min(16, img_size // 8))


def parse_backbone(spec: str, img_size: int) -> dict:
    """Turn a backbone name into an `arch` dict (see BACKBONES and HINT)."""
    spec = spec.strip().lower()
    if spec.startswith("resnet18"):
        stem = spec.removeprefix("resnet18").lstrip("-") or ("cifar" if img_size <= 64 else "imagenet")
        if stem not in ("cifar", "imagenet"):
            raise UserError(f"unknown backbone {spec!r}: {HINT}")
        return dict(name="resnet18", stem=stem, img_size=img_size)
    if not spec.startswith("vit"):
        raise UserError(f"unknown backbone {spec!r}: {HINT}")
    arch = dict(name="vit", img_size=img_size, patch_size=default_patch(img_size), mlp_ratio=4.0, qkv_bias=True,
                num_reg_tokens=0, **SIZES["mini"])
    name, _, patch = spec.partition("/")
    if ":" in name:
        keys = {"dim": "embed_dim", "depth": "depth", "heads": "num_heads", "patch": "patch_size",
                "reg": "num_reg_tokens", "mlp": "mlp_ratio"}
        for item in name.split(":", 1)[1].split(","):
            k, _, v = item.partition("=")
            if k.strip() not in keys:
                raise UserError(f"unknown ViT option {k!r} in {spec!r}: options are {', '.join(keys)}")
            try:
                arch[keys[k.strip()]] = float(v) if k.strip() == "mlp" else int(v)
            except ValueError:
                raise UserError(f"ViT option {k}={v!r} is not a number") from None
    elif name != "vit":
        size = name.removeprefix("vit-")
        if size not in SIZES:
            raise UserError(f"unknown backbone {spec!r}: {HINT}")
        arch.update(SIZES[size])
    if patch:
        if not patch.isdigit():
            raise UserError(f"patch size in {spec!r} must be a whole number")
        arch["patch_size"] = int(patch)
    if arch["embed_dim"] % arch["num_heads"]:
        raise UserError(f"ViT width {arch['embed_dim']} is not divisible by {arch['num_heads']} heads")
    if arch["patch_size"] > img_size or img_size % arch["patch_size"]:
        raise UserError(f"a {img_size}px image does not tile into {arch['patch_size']}px patches: "
                        f"pick a patch size that divides {img_size}")
    return arch


def build_backbone(arch: dict | str, img_size: int | None = None):
    """Build a backbone from an `arch` dict (as stored in checkpoints) or a name (see BACKBONES)."""
    if isinstance(arch, str):
        arch = parse_backbone(arch, img_size or 32)
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    if arch["name"] == "vit":
        return VisionTransformer(**kwargs)
    if arch["name"] == "resnet18":
        return ResNet18(**kwargs)
    raise UserError(f"unknown architecture {arch['name']!r} in checkpoint: SSL Lab builds vit and resnet18")
