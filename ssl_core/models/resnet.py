"""ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

Parameter names are torchvision's. The CIFAR stem (3x3 convolution, stride 1, no max-pool) is the
one SimCLR and every SSL library use for 32 px images; the ImageNet stem (7x7, stride 2, max-pool)
is for photographs. `forward(x)` gives the globally pooled 512-d embedding.

Weights and activations are kept channels-last (NHWC), where oneDNN's CPU convolutions are faster: SimCLR
training 51 -> 59 images/s and the bare model's forward and backward 121 -> 144 under bfloat16 autocast, 2 cores
(`bench/throughput.py --methods simclr --backbones resnet18 --dtypes bf16`, 2026-12-02).
"""

import torch
import torch.nn as nn

from ssl_core.errors import UserError


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    def __init__(self, stem: str = "cifar", img_size: int = 32):
        super().__init__()
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"unknown ResNet stem {stem!r}: use 'cifar' or 'imagenet'")
        self.arch = dict(name="resnet18", stem=stem, img_size=img_size)
        self.embed_dim = 512
        self.img_size = img_size
        self.patch_size = 8 if stem == "cifar" else 32  # the stride of the last feature map
        if stem == "cifar":
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        widths, cin = (64, 128, 256, 512), 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.to(memory_format=torch.channels_last)

    def forward_intermediates(self, x, layers=(-1,), norm: bool = True, keys: bool = False,
                              attention: bool = False) -> list[dict]:
        """The outputs of the stages in `layers` (0..3 = layer1..layer4, -1 the last), the same feature API
        as the ViT's: per stage {"map": its output (B, C, h, w), "cls": the globally pooled map (B, C),
        "patch": the map as a grid (B, h, w, C)}. A ResNet has no attention, so `keys` and `attention` are refused."""
        if keys or attention:
            raise UserError("attention keys and weights exist only in ViTs: use the output tokens of a ResNet")
        stages = [self.check_layer(i) for i in layers]
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = {}
        for i in range(max(stages) + 1):
            x = getattr(self, f"layer{i + 1}")(x)
            out[i] = {"map": x, "cls": x.mean(dim=(2, 3)), "patch": x.permute(0, 2, 3, 1)}
        return [out[i] for i in stages]

    def check_layer(self, layer: int) -> int:
        if not -4 <= layer < 4:
            raise UserError(f"layer {layer} does not exist: a ResNet-18 has stages 0..3 (-1 is the last)")
        return layer % 4

    def forward(self, x):
        return self.forward_intermediates(x)[0]["cls"]
