"""Quality at a fixed budget: SSL methods on CIFAR-10 for N minutes each, then kNN top-1 on the test split
beside the raw-pixel and random-init baselines (the protocol of lightly's benchmarks: k=200, T=0.1, cosine;
a bank of 1,000 train images a class; all 10,000 test images), and beside the single-layer k-means features
of Coates, Lee and Ng (2011), scored by the same kNN rule: the bar learnt without backpropagation.

    python bench/quality.py                          # SimCLR and DINO, 10 minutes each, both cores
    python bench/quality.py --methods all --jobs 2 --lesson assets/lessons/methods-compared.json
                                                     # every method, two at a time on one core each
    python bench/quality.py --minutes 2 --methods simclr --backbone resnet18
    python bench/quality.py --methods                # the k-means baseline alone
    python bench/quality.py --methods --presets ten-minutes --kmeans 0   # the ten-minute preset as it ships

Every method trains with the same recipe (the ten-minutes preset's optimiser: batch 256, AdamW lr 2e-3, 2% warm-up
then cosine; not its 20 px views, which a ViT cannot take) and its own defaults for its own hyper-parameters, on
`--backbone`; the methods that mask patches need a ViT and train on `--vit-backbone`. With `--jobs 2` two runs share
the machine, each with one thread (OMP_NUM_THREADS=1): every row then had ten minutes of one core. Everything runs
through the real CLI in subprocesses, exactly as a user would run it; the commands are printed so each figure can be
reproduced.
`--lesson FILE` also writes the table as JSON, the chart of the lesson "Methods compared".
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, cli

sys.path.insert(0, str(ROOT))  # run as `python bench/...`

from ssl_core.data import load_data
from ssl_core.eval import knn_accuracy
from ssl_core.eval.baselines import fit_kmeans_dictionary, kmeans_features
from ssl_core.methods import METHODS
from ssl_core.train.presets import PRESETS

CIFAR = ROOT.parent / "shared" / "data" / "cifar10"
# Options as {CLI flag or config key: value}; a method's SETTINGS replace the RECIPE's options they name.
RECIPE = {"--batch-size": "256", "--lr": "2e-3", "warmup": "0.02"}  # the ten-minutes preset's optimiser
# Where a method's own defaults do not fit ten CPU minutes (see the note on the issue for the search).
SETTINGS = {
    "dino": {"--batch-size": "128", "--lr": "1e-3", "out_dim": "2048", "n_local": "4", "momentum": "0.99"},
}
SSL_METHODS = [name for name, m in METHODS.items() if m.kind == "ssl"]


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


def as_arguments(options: dict) -> list[str]:
    """CLI arguments of {flag or config key: value}: flags as they are, config keys through --set."""
    return [a for k, v in options.items() for a in ((k, v) if k.startswith("--") else ("--set", f"{k}={v}"))]


def recipes(args) -> list[tuple[str, str, float, list]]:
    """(name, backbone, minutes, CLI arguments) of every row to train."""
    methods = SSL_METHODS if args.methods == ["all"] else args.methods
    out = []
    for m in methods:
        backbone = args.vit_backbone if METHODS[m].needs_vit else args.backbone
        out.append((m, backbone, args.minutes, ["--method", m, "--backbone", backbone, "--minutes", str(args.minutes),
                                                *as_arguments({**RECIPE, **SETTINGS.get(m, {})})]))
    return out + [(f"preset {p}", PRESETS[p]["config"].backbone, PRESETS[p]["config"].minutes, ["--preset", p])
                  for p in args.presets]


def train_and_score(recipe, out: Path, threads: int | None) -> dict:
    name, backbone, minutes, arguments = recipe
    run_dir = out / f"quality-{name.replace(' ', '-')}-{int(time.time())}"
    env = {"OMP_NUM_THREADS": str(threads)} if threads else None
    try:
        train = cli(["train", *arguments, "--data", CIFAR, "--out", run_dir, "--set", "eval_every=0", "--set",
                     "ckpt_every=100000"], env)
    except SystemExit as e:  # one method that fails is a row that says so, not the end of the table
        return {"name": name, "backbone": backbone, "error": str(e)}
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    speed = [m["images_per_s"] for m in metrics if "images_per_s" in m][1:]
    ev = cli(["eval", "knn", "--checkpoint", train["checkpoint"], "--data", CIFAR, "--limit", "10000"], env)
    return {"name": name, "backbone": backbone, "minutes": minutes, "steps": train["step"],
            "images_per_s": round(sum(speed) / max(1, len(speed)), 1), "knn_k200": ev["model"]["k200"],
            "knn_k20": ev["model"]["k20"], "pixels_k200": ev["pixels"]["k200"], "random_k200": ev["random_init"]["k200"],
            "bank": ev["n_train"], "test": ev["n_test"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--methods", nargs="*", default=["simclr", "dino"], help="method names, or all")
    p.add_argument("--presets", nargs="*", default=[], help="presets to train as they are (their own minutes)")
    p.add_argument("--kmeans", type=int, default=1600, help="centroids of the k-means baseline (0: skip it)")
    p.add_argument("--backbone", default="vit")
    p.add_argument("--vit-backbone", default="vit", help="the backbone of the methods that need a ViT")
    p.add_argument("--jobs", type=int, default=1, help="runs at once; with more than one, each gets one thread")
    p.add_argument("--lesson", help="also write the table as JSON here (the chart of the lesson Methods compared)")
    p.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = p.parse_args()
    if not CIFAR.is_dir():
        sys.exit(f"CIFAR-10 not found at {CIFAR}: this benchmark needs ../shared/data/cifar10")
    unknown = set(args.methods) - set(SSL_METHODS) - {"all"}
    if unknown:
        sys.exit(f"unknown methods {', '.join(sorted(unknown))}: use all or some of {', '.join(SSL_METHODS)}")
    threads = 1 if args.jobs > 1 else None
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda r: train_and_score(r, Path(args.out), threads), recipes(args)))
    km = None
    if args.kmeans:
        km, seconds = kmeans_baseline(args.kmeans)
        print(f"\nk-means baseline (Coates et al. 2011, {args.kmeans} centroids, triangle, quadrant pooling): "
              f"kNN k=200 {km['k200']:.3f}, k=20 {km['k20']:.3f} ({seconds:.0f} s without training)")
    for r in [r for r in rows if "error" in r]:
        print(f"{r['name']} ({r['backbone']}) {r['error']}")
    rows = [r for r in rows if "error" not in r]
    if not rows:
        return
    cores = f"one core each, {args.jobs} runs at a time" if threads else f"{os.cpu_count()} cores"
    print(f"\nCIFAR-10 on this machine ({cores}); kNN top-1 (k=200, T=0.1), bank {rows[0]['bank']}, "
          f"test {rows[0]['test']}")
    print("| recipe | backbone | minutes | steps | images/s | kNN k=200 | k=20 | raw pixels | random init |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['backbone']} | {r['minutes']:g} | {r['steps']} | {r['images_per_s']:.0f} | "
              f"{r['knn_k200']:.3f} | {r['knn_k20']:.3f} | {r['pixels_k200']:.3f} | {r['random_k200']:.3f} |")
    if args.lesson:
        command = "python bench/quality.py " + subprocess.list2cmdline(sys.argv[1:])
        Path(args.lesson).parent.mkdir(parents=True, exist_ok=True)
        Path(args.lesson).write_text(json.dumps({
            "measured": time.strftime("%Y-%m-%d"), "command": command, "data": "CIFAR-10 (../shared/data/cifar10)",
            "budget": f"{args.minutes:g} minutes of training, {cores}", "machine": f"{os.cpu_count()}-core CPU, no GPU",
            "protocol": f"kNN top-1, k=200, T=0.1, cosine; bank {rows[0]['bank']} train images, {rows[0]['test']} "
                        "test images",
            "kmeans_k200": km["k200"] if km else None, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.lesson}")


if __name__ == "__main__":
    main()
