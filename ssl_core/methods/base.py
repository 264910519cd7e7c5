"""The one protocol every SSL method follows.

A method is an `nn.Module` that owns a backbone and its training-only heads. The trainer calls
`training_step(images, generator)` on a uint8 batch already on the device (the method draws its own
augmented views, batched), back-propagates the returned loss, steps the optimiser, then calls
`after_step(progress)` (EMA teachers update there). `eval_backbone` is the network whose features
are evaluated and exported; `backbone_prefix` names it inside `state_dict()`.

Methods draw their views through `self.augment` / `self.multi_crop`, so options every method shares
(Batch Styles Standardization, `bss`) live here once; `build_method` sets them from the method args.
"""

import copy
import inspect
import math

import torch
import torch.nn as nn

from ssl_core.data import ViewConfig, augment, multi_crop
from ssl_core.data.bss import bss_normalized

# Options every method takes (set as attributes by `build_method`): name -> (default, one sentence).
COMMON_PARAMS = {
    "bss": (False, ("Batch Styles Standardization: give every image of a view batch one shared Fourier style, "
                    "so style cannot tell images apart (Scalbert et al., ICLR 2024).")),
}


def byol_views(size: int) -> dict[str, ViewConfig]:
    """BYOL's asymmetric pair (Grill et al. 2020, table 6), shared by MoCo v3, Barlow Twins and VICReg:
    both views jittered (0.4, 0.4, 0.2, 0.1, p=0.8) and grayed (p=0.2); view 1 always blurred, view 2
    rarely blurred and sometimes solarised. No blur below 96 px (it destroys a 32 px image)."""
    common = {"scale": (0.08, 1.0), "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "gray_p": 0.2}
    blur = size >= 96
    return {"view 1": ViewConfig(size=size, blur_p=1.0 if blur else 0.0, **common),
            "view 2": ViewConfig(size=size, blur_p=0.1 if blur else 0.0, solarize_p=0.2, **common)}


class Method(nn.Module):
    name = ""
    description = ""  # one line for `methods` and the Train page
    paper = ""
    param_docs: dict[str, str] = {}  # constructor argument -> one sentence
    masking = None  # None, "random" or "block": which patch masks the method trains with
    mask_ratio = 0.0
    needs_vit = False
    bss = False  # see COMMON_PARAMS

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.views = self.view_configs(backbone.img_size)

    @classmethod
    def view_configs(cls, size: int) -> dict[str, ViewConfig]:
        """The augmented views the method trains on, by name (shown on the Data page); by default BYOL's pair."""
        return byol_views(size)

    def stacked_views(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every view in `self.views`, drawn and stacked along the batch, for one backbone pass over all."""
        return torch.cat([self.augment(images, v, generator) for v in self.views.values()])

    def training_step(self, images: torch.Tensor, generator: torch.Generator):
        """uint8 (B, 3, H, W) -> (loss, logs: dict of floats, embedding (B, D) for the collapse indicators).

        The embedding is the output the loss constrains (the projection, where the method has one): that
        is where collapse shows first, and what the collapse lessons watch."""
        raise NotImplementedError

    def augment(self, images: torch.Tensor, view: ViewConfig, generator: torch.Generator) -> torch.Tensor:
        """One augmented view batch (`ssl_core.data.augment`), style-standardised when `bss` is on."""
        x = augment(images, view, generator)
        return bss_normalized(x, generator=generator) if self.bss else x

    def multi_crop(self, images, global_cfg, local_cfg, n_local: int, generator) -> list[torch.Tensor]:
        """`ssl_core.data.multi_crop`; with `bss`, each view batch gets its own shared style."""
        crops = multi_crop(images, global_cfg, local_cfg, n_local=n_local, generator=generator)
        return [bss_normalized(c, generator=generator) for c in crops] if self.bss else crops

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step with training progress in [0, 1]."""

    @property
    def eval_backbone(self) -> nn.Module:
        return self.backbone

    @property
    def backbone_prefix(self) -> str:
        return "backbone."


def ema_momentum(base: float, progress: float) -> float:
    """Cosine schedule of the teacher momentum from `base` to 1 (BYOL, Grill et al. 2020, sec. 3.2)."""
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- m * teacher + (1 - m) * student, parameter by parameter (buffers are copied)."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
    for t, s in zip(teacher.buffers(), student.buffers()):
        t.copy_(s)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A teacher: a deep copy that receives no gradients."""
    teacher = copy.deepcopy(module)
    for p in teacher.parameters():
        p.requires_grad = False
    return teacher


def method_params(cls) -> list[tuple[str, object, str]]:
    """(name, default, one sentence) for each hyper-parameter a method's constructor takes."""
    sig = inspect.signature(cls.__init__)
    own = [(p.name, p.default, cls.param_docs.get(p.name, "")) for p in sig.parameters.values()
           if p.name not in ("self", "backbone") and p.default is not inspect.Parameter.empty]
    return own + [(name, default, doc) for name, (default, doc) in COMMON_PARAMS.items()]
