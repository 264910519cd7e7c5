"""MoCo v3 (Chen, Xie, He, "An Empirical Study of Training Self-Supervised Vision Transformers", ICCV 2021)."""

import torch

from ssl_core.losses import moco_v3_loss
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, Method, POSITIVE, StepOutput, ema_momentum, ema_update, frozen_copy
from ssl_core.models.heads import mlp


class MoCoV3(Method):
    name = "mocov3"
    description = "Contrastive with a momentum encoder: a query predicts its own image's key among the batch's keys."
    paper = "Chen, Xie, He. An Empirical Study of Training Self-Supervised Vision Transformers. ICCV 2021"
    param_docs = {
        "temperature": "Softmax temperature of the contrastive loss (the loss is scaled by 2 * temperature).",
        "proj_hidden": "Width of the hidden layers of the projector and the predictor.",
        "proj_dim": "Size of the query and key vectors.",
        "momentum": "Starting EMA momentum of the key encoder; it follows a cosine schedule to 1.",
    }
    param_checks = {"temperature": POSITIVE, "proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE, "momentum": FRACTION}

    def __init__(self, backbone, temperature: float = 0.2, proj_hidden: int = 512, proj_dim: int = 128,
                 momentum: float = 0.99):
        super().__init__(backbone)
        self.temperature, self.base_momentum = temperature, momentum
        # As the official code: a 3-layer projector ending in BN without affine, a 2-layer predictor.
        self.projector = mlp(backbone.embed_dim, proj_hidden, proj_dim, layers=3, last_batch_norm=True)
        self.predictor = mlp(proj_dim, proj_hidden, proj_dim, layers=2)
        self.momentum_backbone, self.momentum_projector = frozen_copy(backbone), frozen_copy(self.projector)

    def forward(self, batch, generator):
        x = self.stacked_views(batch["images"], generator)
        z = self.projector(self.backbone(x))
        q1, q2 = self.predictor(z).chunk(2)
        with torch.no_grad():
            k1, k2 = self.momentum_projector(self.momentum_backbone(x)).chunk(2)
        loss = moco_v3_loss(q1, k2, self.temperature, True) + moco_v3_loss(q2, k1, self.temperature, True)
        return StepOutput(loss, {}, z.chunk(2)[0])

    def after_step(self, progress):
        m = ema_momentum(self.base_momentum, progress)
        ema_update(self.momentum_backbone, self.backbone, m)
        ema_update(self.momentum_projector, self.projector, m)
