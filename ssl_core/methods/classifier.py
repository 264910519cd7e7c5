"""A supervised classifier: any backbone with a linear head, trained with cross-entropy on the batch's labels.

Not self-supervised: it is the yardstick of the Probe (the shortcut studies train linear models, MLPs,
small CNNs and ViTs with it) and a supervised baseline beside the SSL methods, trained by the same trainer.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_core.data import ViewConfig, normalize
from ssl_core.errors import UserError
from ssl_core.methods.base import Method, StepOutput

AUGMENTS = ("none", "crop-flip")


class Classifier(Method):
    name = "supervised"
    kind = "classifier"
    description = "Supervised baseline: a linear head on the backbone, cross-entropy on the labels."
    paper = "Cross-entropy classification (e.g. He, Zhang, Ren, Sun. Deep Residual Learning for Image " \
            "Recognition. CVPR 2016)"
    param_docs = {
        "num_classes": "Number of classes (by default the data's).",
        "augment": "none (every pixel as drawn: shortcut studies need the colours intact) or crop-flip.",
    }
    param_checks = {"num_classes": (lambda v: v >= 2, "must be at least 2")}

    def __init__(self, backbone, num_classes: int = 10, augment: str = "none"):
        super().__init__(backbone)
        if augment not in AUGMENTS:
            raise UserError(f"unknown augment {augment!r}: use {' or '.join(AUGMENTS)}")
        if num_classes < 2:
            raise UserError(f"a classifier needs at least 2 classes (got {num_classes})")
        self.augment_kind = augment
        self.head = nn.Linear(backbone.embed_dim, num_classes)
        self.views = self.view_configs(getattr(backbone, "img_size", 0))

    @classmethod
    def view_configs(cls, size):
        return {"view": ViewConfig(size=size, scale=(0.5, 1.0), jitter_p=0.0, gray_p=0.0)} if size else {}

    @classmethod
    def build(cls, cfg, data):
        args = {"num_classes": max(2, len(data.class_names) or int(data.labels.max()) + 1), **cfg.method_args}
        return super().build(cfg, data, args)

    def inputs(self, batch, generator=None) -> torch.Tensor:
        """What the backbone reads: normalised images (augmented while training, if asked), or input vectors."""
        if "images" not in batch:
            return batch["inputs"].float()
        if self.training and self.augment_kind == "crop-flip":
            return self.augment(batch["images"], self.views["view"], generator)
        return normalize(batch["images"])

    def forward(self, batch, generator):
        labels = batch["labels"]
        if bool((labels < 0).any()):
            raise UserError("a classifier needs a label for every example: use labelled data (class folders, shapes)")
        logits = self.head(self.backbone(self.inputs(batch, generator)))
        loss = F.cross_entropy(logits.float(), labels)
        acc = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, {"train_acc": acc}, logits)

    @torch.no_grad()
    def predict(self, batch) -> torch.Tensor:
        """Class predictions (B,) in eval mode."""
        was = self.training
        self.eval()
        pred = self.head(self.backbone(self.inputs(batch))).argmax(1)
        self.train(was)
        return pred
