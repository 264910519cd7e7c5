"""I-JEPA against the official code: the collator's minimum context, fixed sin-cos position embeddings, the
linear momentum schedule, and evaluation on mean-pooled patch tokens."""

import torch

from ssl_core.data import load_data, normalize
from ssl_core.methods import build_method
from ssl_core.methods.ijepa import ijepa_masks
from ssl_core.models import build_backbone
from ssl_core.train import monitors
from ssl_core.train.config import TrainConfig
from tests.methods.conftest import TINY_VIT


def test_every_context_keeps_more_than_min_keep_patches():
    # 32 px images in 4 px patches (the default ViT): an 8 x 8 grid. Before the resampling, about 3% of
    # batches of 32 kept fewer than 10 context patches (down to 5), since one row's short context cut them all.
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        ctx, tgt = ijepa_masks(32, (8, 8), 4, (0.15, 0.2), min_keep=10, generator=g)
        assert ctx.shape[1] > 10  # the collator's `len(mask) > self.min_keep`
        for b in range(0, 32, 7):  # at this size the minimum never needs the target cuts relaxed
            assert not set(ctx[b].tolist()) & set(tgt[b].flatten().tolist())


def test_masks_are_reproducible_from_the_generator():
    a = ijepa_masks(16, (8, 8), generator=torch.Generator().manual_seed(3))
    b = ijepa_masks(16, (8, 8), generator=torch.Generator().manual_seed(3))
    c = ijepa_masks(16, (8, 8), generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, c))


def test_under_torchrun_each_rank_keeps_its_rows_of_the_global_masks(monkeypatch):
    from ssl_core import distributed

    draw = lambda b: ijepa_masks(b, (8, 8), generator=torch.Generator().manual_seed(5))  # noqa: E731
    whole = draw(16)
    for rank in (0, 1):  # how IJEPA.forward calls it: through `sharded`, 8 rows a rank of a global 16
        monkeypatch.setattr(distributed, "rank_world", lambda: (rank, 2))
        ctx, tgt = distributed.sharded(draw, 8)
        assert torch.equal(ctx, whole[0][rank * 8:(rank + 1) * 8]) and torch.equal(tgt, whole[1][rank * 8:(rank + 1) * 8])


def test_tiny_grids_lower_the_minimum_and_always_end():
    for grid in ((1, 1), (2, 2), (3, 3), (4, 4), (2, 5)):
        g = torch.Generator().manual_seed(0)
        for _ in range(20):
            ctx, tgt = ijepa_masks(8, grid, 4, (0.15, 0.2), min_keep=10, generator=g)
            n = grid[0] * grid[1]
            assert ctx.shape[1] > min(10, n // 4) and int(ctx.max()) < n
            assert all(len(set(row.tolist())) == ctx.shape[1] for row in ctx)  # distinct patches


def test_ijepa_position_embeddings_are_fixed_sincos():
    from tests.models.test_pos_embed import mae_sincos  # the reference's numpy code

    m = build_method("ijepa", build_backbone(TINY_VIT, 32))
    grid = 32 // 8
    torch.testing.assert_close(m.backbone.pos_embed[0], mae_sincos(32, grid, cls_token=True))
    torch.testing.assert_close(m.target_encoder.pos_embed, m.backbone.pos_embed)
    torch.testing.assert_close(m.predictor_pos_embed[0], mae_sincos(m.predictor_pos_embed.shape[-1], grid))
    assert not m.backbone.pos_embed.requires_grad and not m.predictor_pos_embed.requires_grad
    learned = build_method("ijepa", build_backbone(TINY_VIT, 32), {"pos_embed": "learned"})
    assert learned.backbone.pos_embed.requires_grad and learned.predictor_pos_embed.requires_grad


def test_ijepa_momentum_rises_linearly():
    # The official code: m_i = ema[0] + i (ema[1] - ema[0]) / total, not the cosine of BYOL and DINO.
    m = build_method("ijepa", build_backbone(TINY_VIT, 32), {"momentum": 0.9})
    with torch.no_grad():
        for p in m.target_encoder.parameters():
            p.fill_(1.0)
        for p in m.backbone.parameters():
            p.zero_()
    m.after_step(0.25)
    expected = 0.9 + 0.1 * 0.25  # cosine would give 1 - 0.1 * (cos(pi / 4) + 1) / 2 = 0.9146
    assert torch.allclose(m.target_encoder.blocks[0].attn.qkv.weight, torch.tensor(expected))


def test_ijepa_checkpoints_are_evaluated_on_mean_pooled_patch_tokens(monkeypatch):
    torch.manual_seed(0)
    method = build_method("ijepa", build_backbone(TINY_VIT, 32))
    assert method.checkpoint_meta()["pool"] == "mean"
    data = load_data("shapes:n=64", "train", 32, None)
    seen = []

    def capture(bank, bank_labels, test, test_labels, ks):
        seen.append(bank)
        return {k: 0.0 for k in ks}

    monkeypatch.setattr(monitors, "knn_accuracy", capture)
    cfg = TrainConfig(method="ijepa", data="shapes:n=64", knn_bank=16, knn_test=8)
    monitor = monitors.KnnMonitor(cfg, method, data, data, "cpu", False, lambda *a: None)
    seen.clear()
    monitor(method)
    with torch.no_grad():
        item = method.eval_backbone.eval().forward_intermediates(normalize(monitor.bank.images))[0]
    torch.testing.assert_close(seen[0], item["patch"].mean(dim=(1, 2)))  # the bank's features: patch means
    assert not torch.allclose(seen[0], item["cls"], atol=1e-3)
