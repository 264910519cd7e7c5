"""Fused against explicit attention on this machine: the figures behind `ssl_core.models.vit.FUSED_MIN_TOKENS_CPU`.

    python bench/attention.py                 # the kernels alone, then whole training steps
    python bench/attention.py --steps 0       # the kernels alone

1. The attention product alone, forward and backward, bfloat16, at the token counts SSL Lab's ViTs use
   (65: a 32 px image in 4 px patches; 257: 128 px in 8 px patches), through `scaled_dot_product_attention`
   and as the explicit product `softmax(q k^T / sqrt(d)) v`.
2. Whole training steps (`Trainer.train_step`, bfloat16 autocast) with the ViT's rule as shipped (explicit
   below FUSED_MIN_TOKENS_CPU tokens on a CPU) and with the fused kernel forced everywhere.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/...`

from ssl_core.models import vit
from ssl_core.train.config import TrainConfig
from ssl_core.train.trainer import Trainer

KERNEL_SHAPES = [(256, 3, 65, 64), (128, 3, 129, 64), (64, 3, 197, 64), (64, 4, 257, 32), (8, 6, 785, 64)]
STEP_CASES = [("simclr", "vit-mini", "shapes", 32), ("dino", "vit-mini", "shapes", 32),
              ("mae", "vit-mini/8", "shapes:n=1024", 128)]


def best_ms(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def kernel_ms(shape, fused: bool) -> float:
    q, k, v = (torch.randn(*shape, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))

    def step():
        if fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = ((q * shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        out.sum().backward()

    return best_ms(step)


def step_images_per_s(method: str, backbone: str, data: str, size: int, batch: int, steps: int) -> dict:
    cfg = TrainConfig(method=method, backbone=backbone, data=data, size=size, batch_size=batch, steps=10_000,
                      eval_every=0)
    trainer = Trainer(cfg, None, log=lambda *_: None)
    trainer.setup(resume=False)
    out = {}
    for name, threshold in (("as shipped", vit.FUSED_MIN_TOKENS_CPU), ("fused always", 0)):
        vit.FUSED_MIN_TOKENS_CPU = threshold
        out[name] = batch / (best_ms(trainer.train_step, steps) / 1000)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4, help="timed training steps per case (best of them counts)")
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    print(f"{torch.get_num_threads()} threads; attention forward + backward, bfloat16, best of 5 (ms)")
    print(f"{'(batch, heads, tokens, dim)':30s} {'fused':>8s} {'explicit':>9s} {'explicit speed-up':>18s}")
    for shape in KERNEL_SHAPES:
        f, e = kernel_ms(shape, True), kernel_ms(shape, False)
        print(f"{shape!s:30s} {f:8.1f} {e:9.1f} {f / e:17.2f}x", flush=True)
    if not args.steps:
        return
    shipped = vit.FUSED_MIN_TOKENS_CPU
    print(f"\ntraining steps, batch {args.batch_size}, bfloat16 autocast, best of {args.steps} (images/s)")
    print(f"{'method':8s} {'backbone':11s} {'px':>4s} {'fused always':>13s} {'as shipped':>11s} {'speed-up':>9s}")
    for method, backbone, data, size in STEP_CASES:
        r = step_images_per_s(method, backbone, data, size, args.batch_size, args.steps)
        vit.FUSED_MIN_TOKENS_CPU = shipped
        print(f"{method:8s} {backbone:11s} {size:4d} {r['fused always']:13.1f} {r['as shipped']:11.1f} "
              f"{r['as shipped'] / r['fused always']:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
