"""The Probe's figures: how long the latent lab's 5 x 5 sweep takes, and what it finds.

    python bench/probe.py                 # sweep time, bias against depth, images (a few minutes)
    python bench/probe.py --only sweep

Prints (nothing is asserted; tests check behaviour):
- the wall time of a 5 x 5 sweep (availability ratio x shortcut predictivity) with 3 seeds a cell, an MLP of
  one hidden layer trained to convergence, and its heatmap of mean bias;
- the bias of a linear model and MLPs of 1 to 3 hidden layers, converged and stopped early, at a few settings;
- the image study: a small CNN trained with each shortcut at rate 0.9, on the conflict scenes, beside the
  same CNN trained where the shortcut is random.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/...`

from ssl_core.probe.images import image_study  # noqa: E402
from ssl_core.probe.latent import LatentSpec  # noqa: E402
from ssl_core.probe.shortcut import ModelSpec, cell, sweep  # noqa: E402


def bench_sweep() -> None:
    ratios, rhos = [0.5, 1, 2, 4, 8], [0.6, 0.7, 0.8, 0.9, 0.95]
    start = time.perf_counter()
    rows = sweep(ratios, rhos, ModelSpec(depth=1), seeds=3)
    print(f"sweep 5 x 5 x 3 seeds (MLP, 1 hidden layer, converged): {time.perf_counter() - start:.1f} s")
    print("bias (rows: shortcut predictivity; columns: availability ratio " + " ".join(map(str, ratios)) + ")")
    for rho in rhos:
        cells = [r for r in rows if r["rho_shortcut"] == rho]
        print(f"  {rho:4.2f} " + " ".join(f"{r['bias']:+.2f}±{r['bias_std']:.2f}" for r in cells))


def bench_depth() -> None:
    settings = [(0.9, 1.0), (0.8, 8.0), (0.7, 4.0), (0.95, 4.0)]
    models = [ModelSpec(model="linear")] + [ModelSpec(depth=d) for d in (1, 2, 3)] + [ModelSpec(activation="tanh")]
    print("bias against depth, 5 seeds (converged | 2 epochs)")
    for rho, ratio in settings:
        spec = LatentSpec(rho_shortcut=rho, alpha_shortcut=ratio)
        print(f"  rho_s {rho}, ratio {ratio}")
        for m in models:
            full = cell(spec, m, 5)
            early = cell(spec, ModelSpec(m.model, m.depth, m.activation, epochs=2.0), 5)
            print(f"    {m.label:26s} {full['bias']:+.3f} ± {full['bias_std']:.3f} (acc {full['accuracy']:.3f}) | "
                  f"{early['bias']:+.3f} ± {early['bias_std']:.3f} (acc {early['accuracy']:.3f})")


def bench_images() -> None:
    print("images: small CNN, rate 0.9, conflict scenes (follows shape / shortcut; shape-only CNN follows shape)")
    for shortcut in ("color", "size", "background"):
        start = time.perf_counter()
        r = image_study(shortcut, 0.9, "cnn")
        t, s = r["trained"], r["shape_only"]
        print(f"  {shortcut:10s} {t['follows_shape']:.3f} / {t['follows_shortcut']:.3f}; shape-only "
              f"{s['follows_shape']:.3f} ({time.perf_counter() - start:.0f} s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["sweep", "depth", "images"])
    args = p.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for name, fn in (("sweep", bench_sweep), ("depth", bench_depth), ("images", bench_images)):
        if args.only in (None, name):
            fn()


if __name__ == "__main__":
    main()
