"""Which patches a masked-image model hides: uniformly at random (MAE) or in blocks (BEiT)."""

import math

import torch

from ssl_core.distributed import sharded, sharded_rand


def random_patch_mask(batch: int, grid: tuple[int, int], ratio: float, generator: torch.Generator | None = None,
                      device=None) -> torch.Tensor:
    """(batch, h*w) bool, True = masked: exactly round(ratio * h * w) random patches per row (MAE).

    The same count in every row lets a model gather the visible tokens into a dense tensor.
    """
    n = grid[0] * grid[1]
    k = round(ratio * n)
    noise = sharded_rand(batch, n, generator=generator, device=device)  # this rank's rows of the global draw
    mask = torch.zeros(batch, n, dtype=torch.bool, device=device)
    return mask.scatter_(1, noise.argsort(1)[:, :k], True)


def block_patch_mask(batch: int, grid: tuple[int, int], ratio: float, generator: torch.Generator | None = None,
                     device=None, min_block: int = 4, aspect: tuple[float, float] = (0.3, 3.3),
                     max_rounds: int = 200) -> torch.Tensor:
    """(batch, h*w) bool, True = masked: rectangles of patches until round(ratio * h * w) are masked (BEiT).

    BEiT's sampler, run for all rows at once: each round proposes one rectangle per row (area from
    min_block up to what is left to mask, aspect ratio log-uniform in `aspect`, random place), and
    a row takes it if it adds at least one new patch without overshooting. Rows still short after
    `max_rounds` (rare, when only slivers remain) are topped up with random single patches, so every
    row holds exactly the target count, like `random_patch_mask`. Under torchrun the global batch's masks
    are drawn on every rank (the rounds depend on every row) and each rank keeps its rows.
    """
    return sharded(lambda b: _block_mask(b, grid, ratio, generator, device, min_block, aspect, max_rounds), batch)


def _block_mask(batch, grid, ratio, generator, device, min_block, aspect, max_rounds) -> torch.Tensor:
    gh, gw = grid
    n, target = gh * gw, round(ratio * gh * gw)
    ys = torch.arange(gh, device=device).view(1, gh, 1)
    xs = torch.arange(gw, device=device).view(1, 1, gw)
    mask = torch.zeros(batch, gh, gw, dtype=torch.bool, device=device)
    log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(max_rounds):
        left = target - mask.flatten(1).sum(1)  # (B,) patches still to mask
        if not bool((left > 0).any()):
            break
        r = torch.rand(batch, 4, generator=generator, device=device)
        area = min_block + (left.clamp_min(min_block) - min_block) * r[:, 0]
        ar = torch.exp(log_lo + (log_hi - log_lo) * r[:, 1])
        h = torch.sqrt(area * ar).round().clamp(1, gh)
        w = torch.sqrt(area / ar).round().clamp(1, gw)
        top = torch.floor(r[:, 2] * (gh - h + 1)).view(-1, 1, 1)
        lft = torch.floor(r[:, 3] * (gw - w + 1)).view(-1, 1, 1)
        rect = (ys >= top) & (ys < top + h.view(-1, 1, 1)) & (xs >= lft) & (xs < lft + w.view(-1, 1, 1))
        new = (rect & ~mask).flatten(1).sum(1)
        take = (new > 0) & (new <= left)
        mask |= rect & take.view(-1, 1, 1)
    mask = mask.flatten(1)
    left = target - mask.sum(1)
    if bool((left > 0).any()):  # top up: the `left` unmasked patches with the lowest noise
        noise = torch.rand(batch, n, generator=generator, device=device).masked_fill(mask, 2.0)
        rank = noise.argsort(1).argsort(1)
        mask |= rank < left.view(-1, 1)
    return mask
