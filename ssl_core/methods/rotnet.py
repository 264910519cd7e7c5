"""RotNet (Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image Rotations",
ICLR 2018)."""

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.data import ViewConfig
from ssl_core.distributed import sharded_rand
from ssl_core.methods.base import Method, NON_NEGATIVE, StepOutput

CROPS = ("pad", "resized")


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> the batch rotated by 0, 90, 180 and 270 degrees counter-clockwise, (4B, C, H, W),
    and the rotation labels 0..3 (4B,), rotation-major: rows k*B..(k+1)*B-1 hold rotation k."""
    rotated = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return rotated, labels


def pad_and_crop(images: torch.Tensor, pad: int, generator) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch zero-padded by `pad` pixels on every side and cropped back to H x W
    at a random place: torchvision's RandomCrop(size, padding=pad), batched (one draw per image, through
    `sharded_rand`). On uint8 images the fill is black, as on the PIL images of the reference."""
    B, C, H, W = images.shape
    dev = images.device
    off = (sharded_rand(B, 2, generator=generator, device=dev) * (2 * pad + 1)).long().clamp_max(2 * pad)
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = (off[:, :1] + torch.arange(H, device=dev)).view(B, 1, H, 1)
    cols = (off[:, 1:] + torch.arange(W, device=dev)).view(B, 1, 1, W)
    return padded[torch.arange(B, device=dev).view(B, 1, 1, 1), torch.arange(C, device=dev).view(1, C, 1, 1),
                  rows, cols]


class RotNet(Method):
    """RotNet as the official code's CIFAR recipe (gidariss/FeatureLearningRotNet, dataloader.py): each image
    is padded by 4 px, randomly cropped back to 32 px and flipped, once, and its four rotations go into the
    same batch (so the recipe is "augment, then rotate": the four copies share one crop, as in the code's
    `_load_function`; padding scales with the side, 1/8 of it). `crop="resized"` takes a random resized crop
    (30-100% of the image) instead.

    Stated difference: the paper's best features are not the last layer's but the second of four
    convolutional blocks of its Network-In-Network (ConvB2, Table 1); the trainer's kNN monitor and the
    feature pages read the last layer of the backbone (for a ResNet-18 the analogue would be layer2), so
    RotNet is evaluated there like every method.
    """

    name = "rotnet"
    description = "Pretext task: predict which of four rotations an image was given (evaluated at the last " \
                  "layer, not at the paper's best, its second block)."
    paper = "Gidaris, Singh, Komodakis. Unsupervised Representation Learning by Predicting Image Rotations. ICLR 2018"
    param_docs = {
        "hidden": "Width of the classifier's hidden layer (0: a linear classifier on the embedding).",
        "crop": "pad: shift each image by up to 1/8 of its side with black fill, then flip (the paper's CIFAR "
                "recipe); resized: a random resized crop of 30-100% of the image, then flip.",
    }
    param_checks = {"hidden": NON_NEGATIVE, "crop": (lambda v: v in CROPS, "must be pad or resized")}

    def __init__(self, backbone, hidden: int = 0, crop: str = "pad"):
        super().__init__(backbone)
        d = backbone.embed_dim
        self.classifier = nn.Linear(d, 4) if not hidden else nn.Sequential(nn.Linear(d, hidden), nn.ReLU(),
                                                                             nn.Linear(hidden, 4))
        self.crop = crop
        self.view = self.view_configs(backbone.img_size, crop)["view"]

    @classmethod
    def view_configs(cls, size, crop: str = "pad"):
        # Mild: crop and flip only (with "pad" the shift comes before, in `pad_and_crop`; this view only flips).
        if crop == "pad":
            return {"view": ViewConfig(size=size, scale=(1.0, 1.0), ratio=(1.0, 1.0), jitter_p=0.0, gray_p=0.0)}
        return {"view": ViewConfig(size=size, scale=(0.3, 1.0), jitter_p=0.0, gray_p=0.0)}

    def inputs(self, images: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The four rotations of one augmented view of each image (4B, C, S, S) and their labels."""
        if self.crop == "pad":
            images = pad_and_crop(images, max(1, round(images.shape[-1] / 8)), generator)
        return rotate_all(self.augment(images, self.view, generator))

    def forward(self, batch, generator):
        images = batch["images"]
        x, labels = self.inputs(images, generator)
        logits = self.classifier(self.backbone(x))
        loss = F.cross_entropy(logits.float(), labels)
        acc = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, {"rotation_acc": acc}, logits[: len(images)])
