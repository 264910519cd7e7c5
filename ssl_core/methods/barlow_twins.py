"""Barlow Twins (Zbontar et al., ICML 2021) and Mixed Barlow Twins (Bandara et al., 2023)."""

import torch
import torch.nn.functional as F

from ssl_core.data import ViewConfig
from ssl_core.losses import barlow_twins, mix_bt_barlow_twins, mixed_barlow_twins_reg
from ssl_core.distributed import gather_inputs, rank_world, sharded_randperm
from ssl_core.methods.base import AT_LEAST_ONE, Method, NON_NEGATIVE, StepOutput, per_view
from ssl_core.models.heads import mlp


class BarlowTwins(Method):
    """Barlow Twins as the official code, at classroom widths (a 3-layer projector, 512 wide instead of
    8192). Its BatchNorms see one view at a time (`per_view`), as the code embeds y1 and y2 separately; a
    ResNet backbone's own BatchNorm sees both in one pass (a ViT has none)."""

    name = "barlowtwins"
    description = "Redundancy reduction: the cross-correlation of two views' embeddings is pushed to the identity."
    paper = "Zbontar, Jing, Misra, LeCun, Deny. Barlow Twins: Self-Supervised Learning via Redundancy " \
            "Reduction. ICML 2021"
    param_docs = {
        "lambd": "Weight of the off-diagonal (redundancy) terms against the diagonal (invariance) terms.",
        "proj_hidden": "Width of the projector's hidden layers.",
        "proj_dim": "Size of the embedding whose cross-correlation matrix the loss shapes.",
    }
    param_checks = {"lambd": NON_NEGATIVE, "proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE, "reg_weight": NON_NEGATIVE}
    proj_layers = 3

    def __init__(self, backbone, lambd: float = 5e-3, proj_hidden: int = 512, proj_dim: int = 512):
        super().__init__(backbone)
        self.lambd = lambd
        self.projector = mlp(backbone.embed_dim, proj_hidden, proj_dim, layers=self.proj_layers)

    def embed(self, x: torch.Tensor, views: int = 2) -> torch.Tensor:
        """The projection of `views` stacked view batches: one backbone pass, the projector per view."""
        return per_view(self.projector, self.backbone(x), views)

    def embed_views(self, images, generator):
        x1, x2 = (self.augment(images, v, generator) for v in self.views.values())
        return x1, x2, self.embed(torch.cat([x1, x2])).chunk(2)

    def forward(self, batch, generator):
        _, _, (z1, z2) = self.embed_views(batch["images"], generator)
        return StepOutput(barlow_twins(z1, z2, self.lambd, gather_distributed=True), {}, z1)


class MixedBarlowTwins(BarlowTwins):
    """Mixed Barlow Twins as the official code (wgcban/mix-bt, main.py and model.py, its CIFAR setting): a
    2-layer projector (512 hidden, 1024 out), outputs L2-normalised and then standardised along the batch
    with the unbiased std and no eps for both terms (`mix_bt_barlow_twins`, `mixed_barlow_twins_reg`), two
    views drawn from one recipe, and the mixed image alpha x1 + (1 - alpha) x2[perm], alpha ~ Beta(1, 1)."""

    name = "mixbt"
    description = "Barlow Twins plus a mixup regulariser: mixed images must correlate as linear interpolation predicts."
    paper = "Bandara, De Melo, Patel. Guarding Barlow Twins Against Overfitting with Mixed Samples. arXiv 2023"
    param_docs = {
        **BarlowTwins.param_docs,
        "proj_hidden": "Width of the projector's hidden layer.",
        "reg_weight": "Weight lambda_reg of the mixup regulariser (it is also multiplied by lambd, as mix-bt).",
    }
    proj_layers = 2

    def __init__(self, backbone, lambd: float = 1 / 128, proj_hidden: int = 512, proj_dim: int = 1024,
                 reg_weight: float = 4.0):
        super().__init__(backbone, lambd, proj_hidden, proj_dim)
        self.reg_weight = reg_weight

    @classmethod
    def view_configs(cls, size):
        """mix-bt's pair: one recipe for both views, no blur or solarisation (CifarPairTransform up to 32 px;
        above, its Tiny ImageNet / STL-10 recipe: crops of 20% or more, grayscale 0.1)."""
        small = size <= 32
        view = ViewConfig(size=size, scale=(0.08, 1.0) if small else (0.2, 1.0), brightness=0.4, contrast=0.4,
                          saturation=0.4, hue=0.1, gray_p=0.2 if small else 0.1)
        return {"view 1": view, "view 2": view}

    def embed(self, x, views=2):
        return F.normalize(super().embed(x, views), dim=-1)  # model.py returns F.normalize(out, dim=-1)

    def forward(self, batch, generator):
        images = batch["images"]
        x1, x2, (z1, z2) = self.embed_views(images, generator)
        B, dev = len(images), images.device
        alpha = float(torch.rand((), generator=generator, device=dev))  # Beta(1, 1) is uniform
        perm = sharded_randperm(B, generator=generator, device=dev)  # over the global batch under torchrun
        rank = rank_world()[0]
        mixed_with = gather_inputs(x2)[perm[rank * B:(rank + 1) * B]]
        zm = self.embed(alpha * x1 + (1 - alpha) * mixed_with, views=1)
        bt = mix_bt_barlow_twins(z1, z2, self.lambd, gather_distributed=True)
        reg = mixed_barlow_twins_reg(z1, z2, zm, perm, alpha, self.lambd, self.reg_weight, gather_distributed=True)
        return StepOutput(bt + reg, {"bt_loss": bt.item(), "mix_reg": reg.item()}, z1)
