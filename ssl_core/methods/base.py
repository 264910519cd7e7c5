"""The one protocol every trainable thing follows: SSL methods, classifiers and sparse autoencoders.

A method is an `nn.Module` that owns a backbone and its training-only heads. The trainer calls the
module itself, `method(batch, generator)` (so DistributedDataParallel can wrap it), on a batch dict
already on the device (`ssl_core.data.imagedata`: `images` uint8, `labels`, `index`, ...; the method
draws its own augmented views, batched), and gets a `StepOutput`. It back-propagates the loss, steps the
optimiser, then calls `after_step(progress)` (EMA teachers update there). Before the first step it calls
`set_budget(total_steps)` once (None when the budget is in minutes), so schedules that must fit the run's
length (the teacher momentum's start, `budget_momentum`) can see it; `adam_betas` says which AdamW betas
the method's paper trains with (None: PyTorch's (0.9, 0.999)). `eval_backbone` is the network
whose features are evaluated and exported; `backbone_prefix` names it inside `state_dict()`, and `pool`
says how its features become one embedding ("cls", or "mean" of the patch tokens).

Methods draw their views through `self.augment` / `self.multi_crop`, so options every method shares
(Batch Styles Standardization, `bss`; the views' size, `view_scale`) live here once; `create` sets them from
the method args.
"""

import copy
import inspect
import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn

from ssl_core.data import ViewConfig, augment, multi_crop
from ssl_core.data.bss import bss_normalized
from ssl_core.errors import UserError
from ssl_core.models import build_backbone, parse_backbone

POSITIVE = (lambda v: v > 0, "must be positive")
FRACTION = (lambda v: 0 <= v <= 1, "must be in [0, 1]")
NON_NEGATIVE = (lambda v: v >= 0, "must be zero or more")
AT_LEAST_ONE = (lambda v: v >= 1, "must be at least 1")

# What every EMA method's `momentum` documentation says in brackets (see `budget_momentum`).
MOMENTUM_DOC = "lower in runs too short to forget the random initialisation; 1 freezes the teacher"

# Options every method takes (set as attributes by `Method.create`): name -> (default, one sentence).
COMMON_PARAMS = {
    "bss": (False, ("Batch Styles Standardization: give every image of a view batch one shared Fourier style, "
                    "so style cannot tell images apart (Scalbert et al., ICLR 2024).")),
    "view_scale": (1.0, ("Side of the training views as a fraction of the model's input size (1: the same; local "
                         "crops shrink in proportion). Smaller views make a step cheaper, and a ConvNet trained on "
                         "random resized crops smaller than the test images reads the full-size images as well or "
                         "better (FixRes: Touvron et al., NeurIPS 2019). ConvNets only: a ViT's patch grid is fixed.")),
}
COMMON_CHECKS = {"view_scale": (lambda v: 0 < v <= 1, "must be in (0, 1]: a fraction of the model's input size")}
BLUR_MIN_SIZE = 96  # no blur in views smaller than this: it destroys a 32 px image


def byol_views(size: int) -> dict[str, ViewConfig]:
    """BYOL's asymmetric pair (Grill et al. 2020, table 6), shared by MoCo v3, Barlow Twins and VICReg:
    both views jittered (0.4, 0.4, 0.2, 0.1, p=0.8) and grayed (p=0.2); view 1 always blurred, view 2
    rarely blurred and sometimes solarised. No blur below BLUR_MIN_SIZE."""
    common = {"scale": (0.08, 1.0), "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "gray_p": 0.2}
    blur = size >= BLUR_MIN_SIZE
    return {"view 1": ViewConfig(size=size, blur_p=1.0 if blur else 0.0, **common),
            "view 2": ViewConfig(size=size, blur_p=0.1 if blur else 0.0, solarize_p=0.2, **common)}


@dataclass
class StepOutput:
    """What a training step returns: the loss to back-propagate, floats to log, and the embedding (B, D)
    the collapse indicators watch. One convention for every method: the output the loss constrains (the
    projection, where the method has one), so the collapse lessons compare like with like."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)
    embedding: torch.Tensor | None = None


class Method(nn.Module):
    name = ""
    kind = "ssl"  # the kind of run it makes: "ssl", "classifier" or "sae"
    pool = "cls"  # how the evaluated backbone's features pool into one embedding
    description = ""  # one line for `methods` and the Train page
    paper = ""
    param_docs: dict[str, str] = {}  # constructor argument -> one sentence
    param_checks: dict = {}  # constructor argument -> (predicate, "must be ..." sentence)
    masking = None  # None, "random" or "block": which patch masks the method trains with
    mask_ratio = 0.0
    needs_vit = False
    bss = False  # see COMMON_PARAMS
    view_scale = 1.0  # see COMMON_PARAMS
    adam_betas: tuple[float, float] | None = None  # AdamW's betas in the method's paper (None: PyTorch's)
    total_steps: int | None = None  # the run's budget in steps, once the trainer calls `set_budget`

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.views = self.view_configs(backbone.img_size) if hasattr(backbone, "img_size") else {}

    @classmethod
    def view_configs(cls, size: int) -> dict[str, ViewConfig]:
        """The augmented views the method trains on, by name (shown on the Data page); by default BYOL's pair."""
        return byol_views(size)

    def stacked_views(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every view in `self.views`, drawn and stacked along the batch, for one backbone pass over all."""
        return torch.cat([self.augment(images, v, generator) for v in self.views.values()])

    def forward(self, batch: dict, generator: torch.Generator) -> StepOutput:
        """One training step's loss on a batch (see the module docstring)."""
        raise NotImplementedError

    def augment(self, images: torch.Tensor, view: ViewConfig, generator: torch.Generator) -> torch.Tensor:
        """One augmented view batch (`ssl_core.data.augment`), style-standardised when `bss` is on."""
        x = augment(images, self.sized(view), generator)
        return bss_normalized(x, generator=generator) if self.bss else x

    def multi_crop(self, images, global_cfg, local_cfg, n_local: int, generator) -> list[torch.Tensor]:
        """`ssl_core.data.multi_crop`; with `bss`, each view batch gets its own shared style."""
        global_cfg = [self.sized(v) for v in global_cfg] if isinstance(global_cfg, list) else self.sized(global_cfg)
        crops = multi_crop(images, global_cfg, self.sized(local_cfg), n_local=n_local, generator=generator)
        return [bss_normalized(c, generator=generator) for c in crops] if self.bss else crops

    def sized(self, view: ViewConfig) -> ViewConfig:
        """`view` with its side scaled by `view_scale`, and unblurred where the methods' own rule would not blur
        views of the scaled input size (they decide by it, local crops included)."""
        if self.view_scale == 1:
            return view
        blur = view.blur_p if round(self.backbone.img_size * self.view_scale) >= BLUR_MIN_SIZE else 0.0
        return replace(view, size=max(1, round(view.size * self.view_scale)), blur_p=blur)

    def set_budget(self, total_steps: int | None) -> None:
        """Called once before training with the run's length in optimiser steps (None: a budget in minutes)."""
        self.total_steps = total_steps

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step with training progress in [0, 1]."""

    def teacher_momentum(self, progress: float, schedule=None) -> float:
        """An EMA teacher's momentum at `progress`: from `self.base_momentum`, lowered to fit the budget
        (`budget_momentum`), to 1 along `schedule` (by default the cosine one, `ema_momentum`)."""
        return (schedule or ema_momentum)(budget_momentum(self.base_momentum, self.total_steps), progress)

    @property
    def eval_backbone(self) -> nn.Module:
        return self.backbone

    @property
    def backbone_prefix(self) -> str:
        return "backbone."

    @classmethod
    def create(cls, backbone, args: dict | None = None) -> "Method":
        """The method on `backbone` with hyper-parameters `args`, each checked (`check_args`) first."""
        args = dict(args or {})
        cls.check_args(args, backbone.arch["name"])
        common = {k: args.pop(k) for k in list(args) if k in COMMON_PARAMS}
        method = cls(backbone, **args)
        for k, v in common.items():
            setattr(method, k, v)
        return method

    @classmethod
    def check_args(cls, args: dict, backbone: str) -> None:
        """A one-line UserError unless every hyper-parameter in `args` exists, fits its type and range, and suits
        the backbone (its name or spec: vit, cnn:width=48, resnet18, mlp). Cheap: runs are refused before any
        data loads."""
        backbone = backbone.strip().lower()
        params = {name: (default, doc) for name, default, doc in method_params(cls)}
        unknown = set(args) - set(params)
        if unknown:
            raise UserError(f"{cls.name} has no parameter {', '.join(sorted(unknown))}: its parameters are "
                            f"{', '.join(sorted(params))}")
        hints = {**{k: type(v) for k, (v, _) in params.items() if v is not None},
                 **{k: p.annotation for k, p in inspect.signature(cls.__init__).parameters.items()
                    if p.annotation is not inspect.Parameter.empty}}
        for name, value in args.items():
            _check_param(cls.name, name, value, hints.get(name))
            check = cls.param_checks.get(name) or COMMON_CHECKS.get(name)
            if check and value is not None and not check[0](value):
                raise UserError(f"{cls.name}: {name} = {value!r} {check[1]}")
        if cls.needs_vit and not backbone.startswith("vit"):
            raise UserError(f"{cls.name} masks patches and needs a ViT backbone: use --backbone vit")
        if args.get("view_scale", 1) != 1 and not backbone.startswith(("cnn", "resnet18")):
            raise UserError("view_scale needs a ConvNet on images (cnn or resnet18): a ViT's patch grid is fixed at "
                            "its input size; leave view_scale at 1")

    @classmethod
    def build(cls, cfg, data, args: dict | None = None) -> "Method":
        """The method a TrainConfig asks for, with a backbone sized for `data` (images: their side; vectors:
        their width)."""
        vectors = "inputs" in getattr(data, "tensors", {})
        arch = parse_backbone(cfg.backbone, getattr(data, "size", 0), data.tensors["inputs"].shape[1] if vectors else None)
        return cls.create(build_backbone(arch), cfg.method_args if args is None else args)

    def checkpoint_meta(self) -> dict:
        """What a checkpoint of this method says about itself, so any page can rebuild what it evaluates."""
        return {"kind": self.kind, "arch": self.eval_backbone.arch, "backbone_prefix": self.backbone_prefix,
                "pool": self.pool}


INIT_LEFT = 0.01  # the most of its random initialisation a teacher may keep at the end of a run


def ema_momentum(base: float, progress: float) -> float:
    """Cosine schedule of the teacher momentum from `base` to 1 (BYOL, Grill et al. 2020, sec. 3.2)."""
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


def linear_momentum(base: float, progress: float) -> float:
    """Linear schedule of the teacher momentum from `base` to 1 (I-JEPA's code: ema = [0.996, 1.0])."""
    return base + (1 - base) * progress


def budget_momentum(base: float, total_steps: int | None, init_left: float = INIT_LEFT) -> float:
    """The momentum a teacher starts from in a run of `total_steps`: `base`, or less when the run is too
    short for a teacher starting at `base` to forget its random initialisation.

    After T updates t <- m_t t + (1 - m_t) s the teacher holds prod_t m_t <= exp(-sum_t (1 - m_t)) of its
    initial weights; on either schedule from m0 to 1 (cosine or linear, at progress t/T, t = 1..T) that sum
    is (1 - m0)(T - 1)/2, so m0 = 1 - 2 ln(1/init_left) / (T - 1) leaves at most `init_left`. The papers'
    budgets keep their base (DINO's 0.996 over 125k steps); 300 steps start at 0.969, where 0.996 would
    leave 55% of the random teacher that DINO, I-JEPA and MMC evaluate. A base of 1 (a frozen teacher) is kept.
    """
    if not total_steps or total_steps < 2 or base >= 1:
        return base
    return min(base, max(0.0, 1 - 2 * math.log(1 / init_left) / (total_steps - 1)))


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- m * teacher + (1 - m) * student, parameter by parameter. Buffers (BatchNorm statistics)
    are the teacher's own, kept by its own forward passes, as in MoCo v3's, BYOL's and DINO's code."""
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


def per_view(module: nn.Module, x: torch.Tensor, views: int = 2) -> torch.Tensor:
    """`module` on each of the `views` equal parts of a stacked batch, restacked: a head's BatchNorm then
    normalises each view on its own, as the reference codes do that run one view at a time."""
    return torch.cat([module(v) for v in x.chunk(views)])


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


def _check_param(method: str, name: str, value, hint) -> None:
    """A one-line UserError unless `value` fits the parameter's type (a number where a number belongs)."""
    allowed = getattr(hint, "__args__", (hint,)) if hint is not None else ()
    if value is None and (type(None) in allowed or not allowed):
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and isinstance(value, int) and abs(value) > 2 ** 53:  # float() of it is inexact, or overflows
        raise UserError(f"{method}: {name} is a whole number of {len(str(abs(value)))} digits, far too large to use")
    fits = {bool: isinstance(value, bool), int: number and float(value).is_integer(), float: number,
            str: isinstance(value, str)}
    if allowed and not any(fits.get(t, True) for t in allowed if t is not type(None)):
        what = " or ".join({bool: "true/false", int: "a whole number", float: "a number", str: "text"}.get(t, str(t))
                           for t in allowed if t is not type(None))
        raise UserError(f"{method}: {name} must be {what}, not {value!r}")
    if number and not math.isfinite(value):
        raise UserError(f"{method}: {name} must be a finite number, not {value}")
