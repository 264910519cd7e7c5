"""A small ConvNet family for the CPU: four stages of residual 3x3 blocks with BatchNorm.

Sized to train fast on a laptop CPU (a ResNet-18 at 32 px is 0.56 GFLOP an image; `cnn` is about a
tenth of that): widths double per stage from `width`, each stage downsamples by 2 after the first, and
the pooled last stage is the embedding. Parameter names follow torchvision's ResNet where they can.
Weights and activations are channels-last (NHWC), as the ResNet-18's: the bare model's forward and backward
688 -> 822 images/s under bfloat16 autocast on 2 cores (`bench/throughput.py`, 2026-12-02).
"""

import torch
import torch.nn as nn

from ssl_core.errors import UserError
from ssl_core.models.resnet import BasicBlock


class ConvNet(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 1, img_size: int = 32):
        super().__init__()
        if width < 4 or blocks < 1:
            raise UserError(f"a ConvNet needs width >= 4 and blocks >= 1 (got {width}, {blocks})")
        self.arch = dict(name="cnn", width=width, blocks=blocks, img_size=img_size)
        self.img_size = img_size
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, cin = [], width
        for i in range(4):
            cout = width * 2 ** i
            stages.append(nn.Sequential(*[BasicBlock(cin if b == 0 else cout, cout, 2 if i and b == 0 else 1)
                                          for b in range(blocks)]))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.embed_dim = cin
        self.patch_size = 8  # the stride of the last feature map
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.to(memory_format=torch.channels_last)

    def check_layer(self, layer: int) -> int:
        if not -4 <= layer < 4:
            raise UserError(f"layer {layer} does not exist: this ConvNet has stages 0..3 (-1 is the last)")
        return layer % 4

    def forward_intermediates(self, x, layers=(-1,), norm: bool = True, keys: bool = False,
                              attention: bool = False) -> list[dict]:
        """Per stage in `layers`: {"map": its output (B, C, h, w), "cls": the pooled map (B, C), "patch": the map
        as a grid (B, h, w, C)}."""
        if keys or attention:
            raise UserError("attention keys and weights exist only in ViTs: use the output tokens of a ConvNet")
        stages = [self.check_layer(i) for i in layers]
        x, out = self.stem(x.contiguous(memory_format=torch.channels_last)), {}
        for i in range(max(stages) + 1):
            x = self.stages[i](x)
            out[i] = {"map": x, "cls": x.mean(dim=(2, 3)), "patch": x.permute(0, 2, 3, 1)}
        return [out[i] for i in stages]

    def forward(self, x):
        return self.forward_intermediates(x)[0]["cls"]
