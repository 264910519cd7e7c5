"""Heads as the reference codes build them: MoCo v3's projector and predictor, mix-bt's projector."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.methods import build_method
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def moco_build_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
    """facebookresearch/moco-v3, moco/builder.py: MoCo._build_mlp."""
    mlp = []
    for layer in range(num_layers):
        dim1 = input_dim if layer == 0 else mlp_dim
        dim2 = output_dim if layer == num_layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        if layer < num_layers - 1:
            mlp.append(nn.BatchNorm1d(dim2))
            mlp.append(nn.ReLU(inplace=True))
        elif last_bn:
            mlp.append(nn.BatchNorm1d(dim2, affine=False))
    return nn.Sequential(*mlp)


def layout(module: nn.Sequential) -> list:
    """Each layer's kind and shape: Linear (in, out, bias), BatchNorm (width, affine), ReLU."""
    rows = []
    for m in module:
        if isinstance(m, nn.Linear):
            rows.append(("linear", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            rows.append(("bn", m.num_features, m.affine))
        else:
            rows.append((type(m).__name__,))
    return rows


@pytest.mark.parametrize("backbone", [TINY_VIT, "resnet18", "cnn:width=8"])
def test_moco_v3_heads_match_the_official_builder(backbone):
    m = build_method("mocov3", build_backbone(backbone, 32))
    d, hidden, dim = m.backbone.embed_dim, 512, 128
    if backbone == TINY_VIT:  # MoCo_ViT: a 3-layer projector; the predictor ends in BatchNorm too
        projector, predictor = moco_build_mlp(3, d, hidden, dim), moco_build_mlp(2, dim, hidden, dim)
    else:  # MoCo_ResNet: a 2-layer projector; the predictor ends in its Linear
        projector, predictor = moco_build_mlp(2, d, hidden, dim), moco_build_mlp(2, dim, hidden, dim, False)
    assert layout(m.projector) == layout(projector) and layout(m.momentum_projector) == layout(projector)
    assert layout(m.predictor) == layout(predictor)


def test_mocov3_step_matches_the_official_forward(shapes_batch):
    # moco/builder.py, MoCo.forward: each view through the encoder (and its heads' BatchNorm) on its own.
    torch.manual_seed(0)
    m = build_method("mocov3", build_backbone(TINY_VIT, 32))
    out = m({"images": shapes_batch}, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    x1, x2 = (m.augment(shapes_batch, v, g) for v in m.views.values())
    base = lambda x: m.projector(m.backbone(x))  # noqa: E731 (the encoder with its MLP head)
    momentum = lambda x: m.momentum_projector(m.momentum_backbone(x))  # noqa: E731

    def ctr(q, k, t=0.2):
        q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
        return F.cross_entropy(q @ k.T / t, torch.arange(len(q))) * (2 * t)

    q1, q2 = m.predictor(base(x1)), m.predictor(base(x2))
    with torch.no_grad():
        k1, k2 = momentum(x1), momentum(x2)
    torch.testing.assert_close(out.loss, ctr(q1, k2) + ctr(q2, k1))


def test_mixbt_projector_is_mix_bts():
    # wgcban/mix-bt, model.py (CIFAR): Linear(512, 512, bias=False), BN(512), ReLU, Linear(512, 1024, bias=True).
    m = build_method("mixbt", build_backbone("resnet18", 32))
    assert layout(m.projector) == [("linear", 512, 512, False), ("bn", 512, True), ("ReLU",), ("linear", 512, 1024, True)]
    assert len(build_method("barlowtwins", build_backbone("resnet18", 32)).projector) == 7  # Barlow Twins: 3 layers
