"""BYOL (Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", NeurIPS 2020)."""

import torch

from ssl_core.losses import byol_loss
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, MOMENTUM_DOC, Method, StepOutput, ema_update, frozen_copy
from ssl_core.models.heads import mlp


class BYOL(Method):
    name = "byol"
    description = "An online network predicts an EMA target network's projection of another view; no negatives."
    paper = "Grill, Strub, Altche, Tallec, Richemond, et al. Bootstrap Your Own Latent: A New Approach to " \
            "Self-Supervised Learning. NeurIPS 2020"
    param_docs = {
        "proj_hidden": "Width of the hidden layer of the projector and the predictor.",
        "proj_dim": "Size of the projection the loss compares.",
        "momentum": f"Starting EMA momentum of the target network ({MOMENTUM_DOC}); it follows a cosine schedule to 1.",
        "predictor": "Use the online predictor; switch off (with ema) to see BYOL collapse.",
        "ema": "Keep a slowly moving target network; off, the target is the online network itself "
               "(stop-gradient only), and without the predictor BYOL collapses.",
    }
    param_checks = {"proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE, "momentum": FRACTION}

    def __init__(self, backbone, proj_hidden: int = 512, proj_dim: int = 128, momentum: float = 0.99,
                 predictor: bool = True, ema: bool = True):
        super().__init__(backbone)
        self.projector = mlp(backbone.embed_dim, proj_hidden, proj_dim, layers=2)
        self.predictor = mlp(proj_dim, proj_hidden, proj_dim, layers=2) if predictor else None
        self.use_ema, self.base_momentum = ema, momentum
        if ema:
            self.target_backbone, self.target_projector = frozen_copy(backbone), frozen_copy(self.projector)

    def forward(self, batch, generator):
        x = self.stacked_views(batch["images"], generator)
        h = self.backbone(x)
        z = self.projector(h)
        p1, p2 = (self.predictor(z) if self.predictor is not None else z).chunk(2)
        with torch.no_grad():
            if self.use_ema:
                t1, t2 = self.target_projector(self.target_backbone(x)).chunk(2)
            else:
                t1, t2 = z.detach().chunk(2)  # stop-gradient on the online network itself
        loss = byol_loss(p1, t2) + byol_loss(p2, t1)
        return StepOutput(loss, {}, z.chunk(2)[0])

    def after_step(self, progress):
        if self.use_ema:
            m = self.teacher_momentum(progress)
            ema_update(self.target_backbone, self.backbone, m)
            ema_update(self.target_projector, self.projector, m)
