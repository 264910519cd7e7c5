"""SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020)."""

import torch

from ssl_core.data import ViewConfig
from ssl_core.losses import nt_xent
from ssl_core.losses.nt_xent_negatives import nt_xent_k_negatives
from ssl_core.methods.base import AT_LEAST_ONE, BLUR_MIN_SIZE, Method, NON_NEGATIVE, POSITIVE, StepOutput
from ssl_core.models.heads import mlp


class SimCLR(Method):
    name = "simclr"
    description = "Contrastive: two views of an image attract, views of other images in the batch repel."
    paper = "Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of Visual " \
            "Representations. ICML 2020"
    param_docs = {
        "temperature": "Softmax temperature of NT-Xent: lower values focus the loss on the hardest negatives.",
        "proj_hidden": "Width of the projection head's hidden layer.",
        "proj_dim": "Size of the projected embedding the loss compares.",
        "color_strength": "Colour-jitter strength s of the paper (brightness/contrast/saturation 0.8s, hue 0.2s).",
        "min_scale": "Smallest area of the random resized crop, as a fraction of the image (the paper: 0.08).",
        "negatives": "Negatives per anchor (empty = all 2N-2 in the batch); 0 keeps only the pull between "
                     "the two views, and nothing prevents collapse.",
    }
    param_checks = {"temperature": POSITIVE, "proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE, "color_strength": NON_NEGATIVE,
                    "min_scale": (lambda v: 0 < v <= 1, "must be in (0, 1]"), "negatives": NON_NEGATIVE}

    def __init__(self, backbone, temperature: float = 0.2, proj_hidden: int = 512, proj_dim: int = 128,
                 color_strength: float = 0.5, min_scale: float = 0.08, negatives: int | None = None):
        super().__init__(backbone)
        self.temperature, self.negatives = temperature, negatives
        self.projector = mlp(backbone.embed_dim, proj_hidden, proj_dim, layers=2)
        self.views = self.view_configs(backbone.img_size, color_strength, min_scale)

    @classmethod
    def view_configs(cls, size, color_strength: float = 0.5, min_scale: float = 0.08):
        s = color_strength
        view = ViewConfig(size=size, scale=(min_scale, 1.0), brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s,
                          hue=0.2 * s, gray_p=0.2, blur_p=0.5 if size >= BLUR_MIN_SIZE else 0.0)
        return {"view 1": view, "view 2": view}

    def forward(self, batch, generator):
        x1, x2 = (self.augment(batch["images"], v, generator) for v in self.views.values())
        h = self.backbone(torch.cat([x1, x2]))
        z1, z2 = self.projector(h).chunk(2)
        if self.negatives is None:
            loss = nt_xent(z1, z2, self.temperature, gather_distributed=True)
        else:
            loss = nt_xent_k_negatives(z1, z2, self.temperature, self.negatives, generator)
        return StepOutput(loss, {}, z1)
