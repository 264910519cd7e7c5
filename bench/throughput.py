"""Training throughput of the engine against a bare loop of the same model, per method, backbone and dtype.

    python bench/throughput.py                       # the default grid
    python bench/throughput.py --methods simclr --backbones vit-mini --dtypes bf16 --steps 20
    python bench/throughput.py --methods simclr --backbones resnet18 --dtypes bf16 --set view_scale=0.625

Three loops are timed on the same batches of 32 px shapes (decoded once, uint8):
- engine: `Trainer.train_step` (schedule, augmentation, NaN guard, clipping, EMA hook, metrics bookkeeping);
- bare:   the same method's forward (`method(batch, generator)`), `backward` and `AdamW.step` in a plain loop;
- model:  the backbone alone, forward and backward of one pre-made float view (no augmentation).
Images/s counts source images; a two-view method processes two views per image.

Beside them, the ceiling: the floating-point work of one bare step (matrix products and convolutions, counted by
`torch.utils.flop_counter`) divided into the machine's dense matrix-multiply rate in the same dtype (measured here,
best of five 2048 x 2048 products). No dense kernel runs faster than that rate, so no loop of this method and
backbone runs faster than the ceiling here; only fewer FLOPs (smaller views, a smaller network) or a kernel that
skips multiplications (Winograd, which oneDNN's bfloat16 convolutions do not offer) would pass it.
"""

import argparse
import sys
import time

from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/...`

from ssl_core.cli import parse_value
from ssl_core.devices import autocast, pick_device
from ssl_core.methods import build_method
from ssl_core.models import build_backbone, parse_backbone
from ssl_core.train.config import TrainConfig
from ssl_core.train.trainer import Trainer, param_groups


def timed(fn, steps: int, warmup: int, batch: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * batch / (time.perf_counter() - t0)


def matmul_rate(dtype: str, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of the fastest of `reps` n x n by n x n products in `dtype` on the device."""
    device = pick_device()
    a, b = (torch.randn(n, n, dtype=torch.bfloat16 if dtype == "bf16" else torch.float32, device=device)
            for _ in range(2))
    product = lambda: (a @ b)[0, 0].item()  # noqa: E731 (.item() waits for a GPU to finish)
    return max(timed(product, 1, 1, 1) for _ in range(reps)) * 2 * n ** 3


def flops_per_image(step, batch: int) -> float:
    """The FLOPs one call of `step` (forward, backward and update of one batch) spends per source image."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / batch


def bench(method: str, backbone: str, dtype: str, batch: int, steps: int, warmup: int, args: dict) -> dict:
    bf16 = dtype == "bf16"
    cfg = TrainConfig(method=method, backbone=backbone, data="shapes:n=2048", batch_size=batch, steps=10_000,
                      dtype=dtype, eval_every=0, method_args=args)
    trainer = Trainer(cfg, "/tmp/ssl-lab-bench-run", log=lambda *_: None)
    trainer.setup(resume=False)
    engine = timed(trainer.train_step, steps, warmup, batch)

    device = pick_device()
    data = trainer.data.images
    torch.manual_seed(0)
    m = build_method(method, build_backbone(parse_backbone(backbone, 32)), dict(args)).to(device)
    opt = torch.optim.AdamW(param_groups(m, 0.05), lr=1e-4)
    state = {"i": 0}

    def bare_step():
        i = state["i"] = (state["i"] + 1) % (len(data) // batch)
        g = torch.Generator(device=device).manual_seed(i)
        with autocast(device, bf16):
            loss = m({"images": data[i * batch:(i + 1) * batch].to(device)}, g).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    bare = timed(bare_step, steps, warmup, batch)
    flops = flops_per_image(bare_step, batch)

    net = build_backbone(parse_backbone(backbone, 32)).to(device)
    opt2 = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 32, 32, device=device)

    def model_step():
        with autocast(device, bf16):
            out = net(x).float().pow(2).mean()
        opt2.zero_grad(set_to_none=True)
        out.backward()
        opt2.step()

    model = timed(model_step, steps, warmup, batch)
    return {"method": method, "backbone": backbone, "dtype": dtype, "engine": engine, "bare": bare, "model": model,
            "gflop": flops / 1e9}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["simclr", "dino", "mae"])
    p.add_argument("--backbones", nargs="+", default=["vit-mini", "resnet18"])
    p.add_argument("--dtypes", nargs="+", default=["bf16", "fp32"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter, as `train --set` takes it (e.g. view_scale=0.625); repeat for more")
    args = p.parse_args()
    method_args = {k: parse_value(v) for k, _, v in (kv.partition("=") for kv in args.set)}
    print(f"device {pick_device()}, {torch.get_num_threads()} threads, batch {args.batch_size}, 32 px shapes"
          + (f", method parameters {method_args}" if method_args else ""))
    rates = {dtype: matmul_rate(dtype) for dtype in args.dtypes}
    print("dense matmul rate: " + ", ".join(f"{d} {r / 1e9:.0f} GFLOP/s" for d, r in rates.items()))
    print(f"{'method':8s} {'backbone':10s} {'dtype':5s} {'engine img/s':>13s} {'bare img/s':>11s} "
          f"{'engine/bare':>11s} {'model-only img/s':>17s} {'GFLOP/img':>10s} {'ceiling img/s':>14s} "
          f"{'engine/ceiling':>15s}")
    for method in args.methods:
        for backbone in args.backbones:
            if method == "mae" and backbone.startswith("resnet"):
                continue
            for dtype in args.dtypes:
                r = bench(method, backbone, dtype, args.batch_size, args.steps, args.warmup, method_args)
                ceiling = rates[dtype] / 1e9 / r["gflop"]
                print(f"{method:8s} {backbone:10s} {dtype:5s} {r['engine']:13.1f} {r['bare']:11.1f} "
                      f"{r['engine'] / r['bare']:11.2f} {r['model']:17.1f} {r['gflop']:10.2f} {ceiling:14.1f} "
                      f"{r['engine'] / ceiling:15.2f}", flush=True)


if __name__ == "__main__":
    main()
