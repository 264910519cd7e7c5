"""Sparse-autoencoder training speed and quality on real features: the shipped model's patch tokens of
Imagenette (192-d), a TopK SAE of 8x width (1,536 latents), k = 32, trained on at least 1M tokens.

    python bench/sae.py                       # ../shared/data/imagenette128, the shipped checkpoint
    python bench/sae.py --epochs 3 --threads 1

Prints tokens/s of training (the trainer's steps: forward, AuxK, backward, Adam, decoder renorm) and the
explained variance on held-out tokens (a 10% of the images never trained on) beside PCA with as many
dimensions as the SAE keeps active (k), the linear baseline. Feature extraction is cached and not timed.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/...`

from ssl_core.train.config import TrainConfig  # noqa: E402
from ssl_core.train.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "imagenette128"
CKPT = ROOT / "assets" / "checkpoints" / "default.safetensors"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--checkpoint", default=str(CKPT))
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(method="sae", data=args.data, checkpoint=args.checkpoint, tokens="patch", epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, weight_decay=0.0, warmup=0.05, eval_every=0,
                      log_every=10**8, dtype=args.dtype, method_args={"variant": "topk", "expansion": 8, "k": 32})
    t0 = time.perf_counter()
    trainer = Trainer(cfg, None, log=lambda *a: None)
    trainer.setup(resume=False)  # extracts (or reads back) the features and builds the SAE
    setup = time.perf_counter() - t0
    n_train, n_test = len(trainer.data), len(trainer.test)
    trainer.monitor.__init__(cfg, trainer.method, trainer.data, trainer.test, trainer.device, trainer.bf16, None)
    steps = trainer.total_steps()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    seconds = time.perf_counter() - start
    m = trainer.monitor(trainer.method)
    print(f"{os.cpu_count()} cores, {args.threads} threads, load average {os.getloadavg()[0]:.2f}; dtype {args.dtype}")
    print(f"tokens: {n_train:,} training, {n_test:,} held out (setup incl. features {setup:.0f} s)")
    print(f"trained {steps} steps x {args.batch_size} = {steps * args.batch_size:,} tokens in {seconds:.1f} s: "
          f"{steps * args.batch_size / seconds:,.0f} tokens/s")
    print(f"held-out explained variance: SAE {m['explained_variance']:.3f} (L0 {m['l0']:.1f}, dead {m['dead_fraction']:.1%})"
          f"; PCA with {trainer.method.sae.k} dimensions {m['pca_explained_variance']:.3f}")


if __name__ == "__main__":
    main()
