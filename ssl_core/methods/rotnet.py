"""RotNet (Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image Rotations",
ICLR 2018)."""

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.data import ViewConfig
from ssl_core.methods.base import Method, NON_NEGATIVE, StepOutput


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> the batch rotated by 0, 90, 180 and 270 degrees counter-clockwise, (4B, C, H, W),
    and the rotation labels 0..3 (4B,), rotation-major: rows k*B..(k+1)*B-1 hold rotation k."""
    rotated = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return rotated, labels


class RotNet(Method):
    name = "rotnet"
    description = "Pretext task: predict which of four rotations (0, 90, 180, 270 degrees) an image was given."
    paper = "Gidaris, Singh, Komodakis. Unsupervised Representation Learning by Predicting Image Rotations. ICLR 2018"
    param_docs = {
        "hidden": "Width of the classifier's hidden layer (0: a linear classifier on the embedding).",
    }
    param_checks = {"hidden": NON_NEGATIVE}

    def __init__(self, backbone, hidden: int = 0):
        super().__init__(backbone)
        d = backbone.embed_dim
        self.classifier = nn.Linear(d, 4) if not hidden else nn.Sequential(nn.Linear(d, hidden), nn.ReLU(),
                                                                             nn.Linear(hidden, 4))
        self.view = self.view_configs(backbone.img_size)["view"]

    @classmethod
    def view_configs(cls, size):
        # Mild: crop and flip only. RotNet trains on the rotated images themselves (all four in one batch).
        return {"view": ViewConfig(size=size, scale=(0.3, 1.0), jitter_p=0.0, gray_p=0.0)}

    def forward(self, batch, generator):
        images = batch["images"]
        x, labels = rotate_all(self.augment(images, self.view, generator))
        logits = self.classifier(self.backbone(x))
        loss = F.cross_entropy(logits.float(), labels)
        acc = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, {"rotation_acc": acc}, logits[: len(images)])
