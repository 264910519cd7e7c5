"""Learning-rate schedules as pure functions of training progress p in [0, 1].

Progress is steps done / step budget, or elapsed / time budget, so the same schedule serves budgets in
steps, epochs and minutes. When the budget in steps is known, the warm-up lasts at least
WARMUP_FLOOR_STEPS steps (`warmup_fraction`): 5% of a 250-step classroom run is 12 steps, too few for
Adam's moment estimates to settle before a ViT meets the peak rate.
"""

import math

WARMUP_FLOOR_STEPS = 50  # the shortest warm-up in steps, when the budget in steps is known
WARMUP_FLOOR_CAP = 0.2  # the floor never makes the warm-up longer than this fraction of the run
ANNEAL_MIN = 0.01  # where the infinite schedule's exponential anneal ends when min_lr is 0 (it cannot reach 0)


def warmup_fraction(warmup: float, total_steps: int | None) -> float:
    """The warm-up as a fraction of the budget: `warmup`, lengthened to WARMUP_FLOOR_STEPS steps (at most
    WARMUP_FLOOR_CAP of the run) when the budget in steps is known. No warm-up (0) stays none."""
    if not warmup or not total_steps:
        return warmup
    return max(warmup, min(WARMUP_FLOOR_STEPS / total_steps, WARMUP_FLOOR_CAP))


def cosine(p: float, warmup: float, min_lr: float = 0.0) -> float:
    """Linear warm-up to 1, then cosine decay to `min_lr` (Loshchilov & Hutter, SGDR, 2017)."""
    if p < warmup:
        return p / warmup
    t = min(1.0, (p - warmup) / max(1e-12, 1 - warmup))
    return min_lr + (1 - min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def infinite(p: float, warmup: float, cooldown: float, constant: float, anneal: float,
             min_lr: float = ANNEAL_MIN) -> float:
    """The infinite schedule (Singh, Janson, Mehrbod, Ibrahim, Rish, Belilovsky, Therien, "Beyond Cosine
    Decay: On the effectiveness of Infinite Learning Rate Schedule for Continual Pre-training", arXiv
    2503.02844, 2025; after Ibrahim et al. 2024), as a multiple of the peak rate:

        p / w                                              warm-up,      p < w
        c + (1 - c) (1 + cos(pi (p - w) / d)) / 2          cool-down,    w <= p < w + d
        c                                                  constant,     up to 1 - a
        c (m / c)^((p - (1 - a)) / a)                      anneal,       1 - a < p <= 1

    with w = `warmup`, d = `cooldown`, c = `constant`, a = `anneal` (0: never anneal, for a run that goes on)
    and m = `min_lr`: the anneal decays exponentially from the constant rate to the minimum at the end,
    for the checkpoint that is wanted last."""
    if p < warmup:
        return p / warmup
    if p < warmup + cooldown:
        t = (p - warmup) / cooldown
        return constant + (1 - constant) * 0.5 * (1 + math.cos(math.pi * t))
    if anneal > 0 and p > 1 - anneal and constant > 0:
        t = min(1.0, (p - (1 - anneal)) / anneal)
        return constant * (min(min_lr, constant) / constant) ** t
    return constant


def lr_factor(p: float, cfg, total_steps: int | None = None) -> float:
    """The multiplier of the peak learning rate at progress p for a TrainConfig, in a run of `total_steps`
    optimiser steps (None when the budget is in minutes: the warm-up is then `cfg.warmup` as it is)."""
    warmup = warmup_fraction(cfg.warmup, total_steps)
    if cfg.schedule == "cosine":
        return cosine(p, warmup, cfg.min_lr)
    if cfg.schedule == "infinite":
        return infinite(p, warmup, cfg.cooldown, cfg.constant_lr, cfg.anneal, cfg.min_lr or ANNEAL_MIN)
    return min(1.0, p / warmup) if warmup else 1.0
