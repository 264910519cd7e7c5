"""Fixed 2-D sin-cos position embeddings (MAE, I-JEPA) against the reference's numpy code, and MAE's AdamW betas."""

import numpy as np
import torch

from ssl_core.methods import build_method
from ssl_core.models.pos_embed import sincos_2d
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def mae_sincos(dim: int, grid: int, cls_token: bool = False) -> torch.Tensor:
    """MAE's util/pos_embed.py (get_2d_sincos_pos_embed), as I-JEPA copies it."""
    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=float) / (d / 2.0)
        omega = 1.0 / 10000 ** omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    g = np.stack(np.meshgrid(np.arange(grid, dtype=float), np.arange(grid, dtype=float)), axis=0)  # w goes first
    g = g.reshape([2, 1, grid, grid])
    emb = np.concatenate([one_d(dim // 2, g[0]), one_d(dim // 2, g[1])], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, dim]), emb], axis=0)
    return torch.from_numpy(emb).float()


def test_sincos_matches_the_reference():
    for dim, grid, cls in ((32, 4, True), (96, 8, False), (192, 5, True)):
        torch.testing.assert_close(sincos_2d(dim, grid, cls), mae_sincos(dim, grid, cls))


def test_mae_uses_fixed_sincos_and_its_betas():
    m = build_method("mae", build_backbone(TINY_VIT, 32))
    torch.testing.assert_close(m.backbone.pos_embed[0], mae_sincos(32, 4, cls_token=True))
    torch.testing.assert_close(m.decoder_pos_embed[0], mae_sincos(m.decoder_pos_embed.shape[-1], 4, cls_token=True))
    assert not m.backbone.pos_embed.requires_grad and not m.decoder_pos_embed.requires_grad
    assert m.adam_betas == (0.9, 0.95)  # main_pretrain.py
    assert build_method("ijepa", build_backbone(TINY_VIT, 32)).adam_betas is None  # the code's AdamW defaults
    learned = build_method("mae", build_backbone(TINY_VIT, 32), {"pos_embed": "learned"})
    assert learned.backbone.pos_embed.requires_grad and learned.decoder_pos_embed.requires_grad


def test_a_width_sincos_cannot_encode_is_a_one_line_error():
    import pytest

    from ssl_core.errors import UserError

    with pytest.raises(UserError, match="divisible by 4") as e:
        build_method("mae", build_backbone("vit:dim=30,depth=1,heads=3,patch=8", 32))
    assert "\n" not in str(e.value)
    assert build_method("mae", build_backbone("vit:dim=30,depth=1,heads=3,patch=8", 32),
                        {"pos_embed": "learned"}).backbone.pos_embed.requires_grad
