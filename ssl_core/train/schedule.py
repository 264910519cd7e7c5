"""Learning-rate schedules as pure functions of training progress p in [0, 1].

Progress is steps done / step budget, or elapsed / time budget, so the same schedule serves budgets in
steps, epochs and minutes.
"""

import math


def cosine(p: float, warmup: float, min_lr: float = 0.0) -> float:
    """Linear warm-up to 1, then cosine decay to `min_lr` (Loshchilov & Hutter, SGDR, 2017)."""
    if p < warmup:
        return p / warmup
    t = min(1.0, (p - warmup) / max(1e-12, 1 - warmup))
    return min_lr + (1 - min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def infinite(p: float, warmup: float, cooldown: float, constant: float, anneal: float) -> float:
    """The infinite schedule ("Beyond Cosine Decay", Ibrahim et al. 2024): warm-up, cosine cool-down to a
    constant rate, hold it as long as needed, then (if `anneal` > 0) a linear anneal to zero over the
    final `anneal` fraction, for the checkpoint that is wanted last."""
    if p < warmup:
        return p / warmup
    if p < warmup + cooldown:
        t = (p - warmup) / cooldown
        return constant + (1 - constant) * 0.5 * (1 + math.cos(math.pi * t))
    if anneal > 0 and p > 1 - anneal:
        return constant * max(0.0, (1 - p) / anneal)
    return constant


def lr_factor(p: float, cfg) -> float:
    """The multiplier of the peak learning rate at progress p for a TrainConfig."""
    if cfg.schedule == "cosine":
        return cosine(p, cfg.warmup, cfg.min_lr)
    if cfg.schedule == "infinite":
        return infinite(p, cfg.warmup, cfg.cooldown, cfg.constant_lr, cfg.anneal)
    return min(1.0, p / cfg.warmup) if cfg.warmup else 1.0
