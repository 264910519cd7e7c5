import pytest
import torch

from ssl_core.data import block_patch_mask, random_patch_mask


@pytest.mark.parametrize("grid, ratio", [((4, 4), 0.75), ((8, 8), 0.5), ((14, 14), 0.75), ((3, 5), 0.1)])
def test_random_mask_count_is_exact(grid, ratio):
    m = random_patch_mask(32, grid, ratio, torch.Generator().manual_seed(0))
    assert m.dtype == torch.bool and m.shape == (32, grid[0] * grid[1])
    assert (m.sum(1) == round(ratio * grid[0] * grid[1])).all()
    assert len({tuple(r.tolist()) for r in m}) > 1  # rows differ


def test_random_mask_is_reproducible_and_uniform():
    a = random_patch_mask(2000, (4, 4), 0.25, torch.Generator().manual_seed(1))
    b = random_patch_mask(2000, (4, 4), 0.25, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert (a.float().mean(0) - 0.25).abs().max() < 0.05


@pytest.mark.parametrize("grid, ratio", [((8, 8), 0.4), ((14, 14), 0.5), ((4, 4), 0.3)])
def test_block_mask_count_and_blocks(grid, ratio):
    m = block_patch_mask(64, grid, ratio, torch.Generator().manual_seed(0))
    assert m.shape == (64, grid[0] * grid[1]) and m.dtype == torch.bool
    assert (m.sum(1) == round(ratio * grid[0] * grid[1])).all()
    # blocks, not salt-and-pepper: most masked patches have a masked 4-neighbour
    g = m.view(64, *grid).float()
    nb = torch.zeros_like(g)
    nb[:, 1:] += g[:, :-1]
    nb[:, :-1] += g[:, 1:]
    nb[:, :, 1:] += g[:, :, :-1]
    nb[:, :, :-1] += g[:, :, 1:]
    assert ((nb > 0) & (g > 0)).sum() / g.sum() > 0.9
    assert torch.equal(m, block_patch_mask(64, grid, ratio, torch.Generator().manual_seed(0)))
