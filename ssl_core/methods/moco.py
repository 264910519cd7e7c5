"""MoCo v3 (Chen, Xie, He, "An Empirical Study of Training Self-Supervised Vision Transformers", ICCV 2021)."""

import torch

from ssl_core.losses import moco_v3_loss
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, MOMENTUM_DOC, Method, POSITIVE, StepOutput, ema_update, frozen_copy, per_view
from ssl_core.models.heads import mlp


def moco_heads(backbone, hidden: int, dim: int) -> tuple:
    """MoCo v3's projector and predictor, as the official code builds them (moco/builder.py, `_build_mlp`):
    Linear layers without bias, BatchNorm + ReLU between them; on a ViT a 3-layer projector and a 2-layer
    predictor, both ending in a BatchNorm without affine (MoCo_ViT); on a ResNet (and our small CNN) a
    2-layer projector ending in that BatchNorm and a 2-layer predictor ending in the bare Linear (MoCo_ResNet).
    Widths are ours (512 hidden, 128 out; the paper's 4096 and 256 do not fit a CPU classroom)."""
    vit = backbone.arch["name"] == "vit"
    projector = mlp(backbone.embed_dim, hidden, dim, layers=3 if vit else 2, last_batch_norm=True)
    predictor = mlp(dim, hidden, dim, layers=2, last_batch_norm=vit, last_bias=False)
    return projector, predictor


class MoCoV3(Method):
    """MoCo v3 as the official code, heads included (`moco_heads`). One stated difference: a ResNet backbone's
    own BatchNorm sees both views in one pass (the official code encodes them one at a time); a ViT has none."""

    name = "mocov3"
    description = "Contrastive with a momentum encoder: a query predicts its own image's key among the batch's keys."
    paper = "Chen, Xie, He. An Empirical Study of Training Self-Supervised Vision Transformers. ICCV 2021"
    param_docs = {
        "temperature": "Softmax temperature of the contrastive loss (the loss is scaled by 2 * temperature).",
        "proj_hidden": "Width of the hidden layers of the projector and the predictor.",
        "proj_dim": "Size of the query and key vectors.",
        "momentum": f"Starting EMA momentum of the key encoder ({MOMENTUM_DOC}); it follows a cosine schedule to 1.",
    }
    param_checks = {"temperature": POSITIVE, "proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE, "momentum": FRACTION}

    def __init__(self, backbone, temperature: float = 0.2, proj_hidden: int = 512, proj_dim: int = 128,
                 momentum: float = 0.99):
        super().__init__(backbone)
        self.temperature, self.base_momentum = temperature, momentum
        self.projector, self.predictor = moco_heads(backbone, proj_hidden, proj_dim)
        self.momentum_backbone, self.momentum_projector = frozen_copy(backbone), frozen_copy(self.projector)

    def forward(self, batch, generator):
        x = self.stacked_views(batch["images"], generator)
        # One backbone pass over both views; the heads see one view at a time (their BatchNorm statistics are
        # per view, as in the official code, which encodes x1 and x2 separately).
        z = per_view(self.projector, self.backbone(x))
        q1, q2 = per_view(self.predictor, z).chunk(2)
        with torch.no_grad():
            k1, k2 = per_view(self.momentum_projector, self.momentum_backbone(x)).chunk(2)
        loss = moco_v3_loss(q1, k2, self.temperature, True) + moco_v3_loss(q2, k1, self.temperature, True)
        return StepOutput(loss, {}, z.chunk(2)[0])

    def after_step(self, progress):
        m = self.teacher_momentum(progress)
        ema_update(self.momentum_backbone, self.backbone, m)
        ema_update(self.momentum_projector, self.projector, m)
