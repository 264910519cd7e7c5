"""Training-step throughput of the TopK sparse autoencoder: the sparse fast path against plain autograd.

    python bench/sae_step.py                          # d_in 192, width 1536, k 32, batch 4096, 2 threads
    python bench/sae_step.py --steps 50 --threads 1

A step is what a trainer does: forward and loss, backward, removing the decoder gradient parallel to
its columns, AdamW, renormalising the decoder columns. Data: random Gaussian tokens, standardised.
- fast:  `SparseAutoencoder.loss` (custom TopK encode and sparse decode, loss logs included);
- naive: the same parameters through plain autograd: dense pre-activations, torch.topk, scatter to a
         dense (B, width) code and a dense decoder matmul;
- auxk:  the fast path with --dead latents held dead, so AuxK (aux_k = d_in / 2) runs every step.
Each in float32 and under bfloat16 autocast. Prints tokens/s; no asserts.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/...`

from ssl_core.sae.model import SparseAutoencoder


def naive_loss(sae: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    pre = F.linear(x - sae.b_pre, sae.W_enc, sae.b_enc)
    values, indices = pre.topk(sae.k, dim=-1)
    acts = torch.zeros_like(pre).scatter(1, indices, values.relu())
    x_hat = F.linear(acts, sae.W_dec, sae.b_pre)
    return (x.float() - x_hat.float()).pow(2).mean()


def tokens_per_s(path: str, bf16: bool, data: list[torch.Tensor], args) -> float:
    torch.manual_seed(0)
    sae = SparseAutoencoder(args.d_in, args.width, "topk", k=args.k).init_from(torch.cat(data[:2]))
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-4, weight_decay=0.0)

    def step(x):
        if path == "auxk":
            sae.tokens_since_fired[:args.dead] = sae.dead_window
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = naive_loss(sae, x) if path == "naive" else sae.loss(x)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_grad_()
        opt.step()
        sae.after_step()

    for i in range(args.warmup):
        step(data[i % len(data)])
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(data[i % len(data)])
    return args.steps * args.batch / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-in", type=int, default=192)
    p.add_argument("--width", type=int, default=1536)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dead", type=int, default=154, help="latents held dead in the auxk rows (default 10%%)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = [torch.randn(args.batch, args.d_in, generator=g) for _ in range(8)]
    load = os.getloadavg()
    print(f"d_in {args.d_in}, width {args.width}, k {args.k}, batch {args.batch}, {args.threads} threads, "
          f"torch {torch.__version__}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for path in ("fast", "naive", "auxk"):
        for bf16 in (False, True):
            rate = tokens_per_s(path, bf16, data, args)
            print(f"{path:6s} {'bf16' if bf16 else 'fp32':5s} {rate:10,.0f} tokens/s")


if __name__ == "__main__":
    main()
