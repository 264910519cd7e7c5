"""Quality at a fixed budget: SimCLR and DINO on CIFAR-10 for N minutes each, then kNN top-1 on the test
split beside the raw-pixel and random-init baselines (the protocol of lightly's benchmarks: k=200, T=0.1,
cosine; a bank of 1,000 train images a class; all 10,000 test images), and beside the single-layer k-means
features of Coates, Lee and Ng (2011), scored by the same kNN rule: the bar learnt without backpropagation.

    python bench/quality.py                          # 10 minutes per method, the shipped presets
    python bench/quality.py --minutes 2 --methods simclr --backbone resnet18
    python bench/quality.py --methods                # the k-means baseline alone
    python bench/quality.py --methods --presets ten-minutes --kmeans 0   # the ten-minute preset as it ships

Everything runs through the real CLI in subprocesses, exactly as a user would run it; the commands are
printed so each figure can be reproduced.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from common import ROOT, cli

sys.path.insert(0, str(ROOT))  # run as `python bench/...`

from ssl_core.data import load_data
from ssl_core.eval import knn_accuracy
from ssl_core.eval.baselines import fit_kmeans_dictionary, kmeans_features
from ssl_core.train.presets import PRESETS

CIFAR = ROOT.parent / "shared" / "data" / "cifar10"

# The settings we found best for a short CPU budget (see the note on the issue for the search).
SETTINGS = {
    "simclr": ["--batch-size", "256", "--lr", "2e-3", "--set", "warmup=0.02"],
    "dino": ["--batch-size", "128", "--lr", "1e-3", "--set", "warmup=0.02", "--set", "out_dim=2048",
             "--set", "n_local=4", "--set", "momentum=0.99"],
}


def kmeans_baseline(k: int) -> tuple[dict, float]:
    """kNN top-1 of Coates et al.'s k-means (triangle) features, under the protocol above: the dictionary is
    learnt from the bank's images (400,000 whitened 6x6 patches, k centroids, 50 rounds); features are
    standardised by the bank's mean and deviation, as the paper does before its classifier."""
    t = time.perf_counter()
    bank, test = load_data(str(CIFAR), "train", 32, 10_000), load_data(str(CIFAR), "test", 32)
    d = fit_kmeans_dictionary(bank.images, k=k)
    fb, ft = kmeans_features(bank.images, d), kmeans_features(test.images, d)
    mean, std = fb.mean(0), fb.std(0) + 1e-2
    acc = knn_accuracy((fb - mean) / std, bank.labels, (ft - mean) / std, test.labels, ks=(20, 200))
    return {"k20": acc[20], "k200": acc[200]}, time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--methods", nargs="*", default=["simclr", "dino"])
    p.add_argument("--presets", nargs="*", default=[], help="presets to train as they are (their own minutes)")
    p.add_argument("--kmeans", type=int, default=1600, help="centroids of the k-means baseline (0: skip it)")
    p.add_argument("--backbone", default="vit")
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = p.parse_args()
    if not CIFAR.is_dir():
        sys.exit(f"CIFAR-10 not found at {CIFAR}: this benchmark needs ../shared/data/cifar10")
    rows = []
    recipes = [(m, args.backbone, args.minutes, ["--method", m, "--backbone", args.backbone, "--minutes",
                                                 str(args.minutes), *SETTINGS.get(m, [])]) for m in args.methods]
    recipes += [(f"preset {p}", PRESETS[p]["config"].backbone, PRESETS[p]["config"].minutes, ["--preset", p])
                for p in args.presets]
    for name, backbone, minutes, recipe in recipes:
        run_dir = Path(args.out) / f"quality-{name.replace(' ', '-')}-{int(time.time())}"
        train = cli(["train", *recipe, "--data", CIFAR, "--out", run_dir, "--set", "eval_every=0", "--set",
                     "ckpt_every=100000"])
        metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        speed = [m["images_per_s"] for m in metrics if "images_per_s" in m][1:]
        ev = cli(["eval", "knn", "--checkpoint", train["checkpoint"], "--data", CIFAR, "--limit", "10000"])
        rows.append((name, backbone, minutes, train["step"], sum(speed) / max(1, len(speed)), ev))
    if args.kmeans:
        km, seconds = kmeans_baseline(args.kmeans)
        print(f"\nk-means baseline (Coates et al. 2011, {args.kmeans} centroids, triangle, quadrant pooling): "
              f"kNN k=200 {km['k200']:.3f}, k=20 {km['k20']:.3f} ({seconds:.0f} s without training)")
    if not rows:
        return
    print(f"\nCIFAR-10 on this machine; kNN top-1 (k=200, T=0.1), bank {rows[0][5]['n_train']}, "
          f"test {rows[0][5]['n_test']}")
    print("| recipe | backbone | minutes | steps | images/s | kNN k=200 | k=20 | raw pixels | random init |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, backbone, minutes, steps, speed, ev in rows:
        print(f"| {name} | {backbone} | {minutes:g} | {steps} | {speed:.0f} | {ev['model']['k200']:.3f} | "
              f"{ev['model']['k20']:.3f} | {ev['pixels']['k200']:.3f} | {ev['random_init']['k200']:.3f} |")

if __name__ == "__main__":
    main()
