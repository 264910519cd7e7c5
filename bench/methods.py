"""Every method of the zoo at the same wall-clock training budget, on the same data, through the real CLI.

For each dataset (32 px shapes, and a CIFAR-10 subset from ../shared/data/cifar10 when present) and each
method, `python -m ssl_core train` runs in its own subprocess for `--budget` seconds of training (the
trainer's clock: setup and evaluation are not counted), then the kNN top-1 it measured at the end (k=200,
cosine, T=0.1) is tabulated beside the run's own baselines (raw pixels, and a randomly initialised
network of the same shape), with the training images/s and the subprocess's peak resident memory
(getrusage maxrss via os.wait4: the whole process, data and evaluation included).

    python bench/methods.py                      # 60 s per method, shapes and CIFAR-10, writes bench/results/methods.md
    python bench/methods.py --budget 20 --datasets shapes --methods simclr byol
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as `python bench/...`

from ssl_core.methods import METHODS  # noqa: E402

CIFAR = ROOT.parent / "shared" / "data" / "cifar10"

# The same settings for every method (batch, learning rate, backbone), except the heads that would not
# fit a CPU at their paper size.
COMMON = ["--set", "warmup=0.05", "--set", "log_every=5", "--set", "eval_every=0",
          "--set", "ckpt_every=1000000"]
EXTRA = {
    "dino": ["--set", "out_dim=1024", "--set", "n_local=4", "--set", "momentum=0.99"],
    "mmc": ["--set", "out_dim=1024"],
}
DATASETS = {"shapes": ("shapes", []), "cifar10": (None, ["--limit", "10000"])}  # CIFAR's folder: --cifar


def run_one(method: str, data: str, data_args: list[str], budget_s: float, backbone: str, out: Path,
            knn: tuple[int, int], batch: int = 128, dtype: str = "auto", threads: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "ssl_core", "train", "--method", method, "--data", data, "--out", str(out),
           "--backbone", backbone, "--minutes", f"{budget_s / 60:.6f}", "--json", "--batch-size", str(batch),
           "--dtype", dtype, *COMMON, *data_args,
           "--set", f"knn_bank={knn[0]}", "--set", f"knn_test={knn[1]}", *EXTRA.get(method, [])]
    print("$", " ".join(cmd), flush=True)
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read().decode(), se.read().decode()
    if proc.returncode:
        return {"method": method, "error": (stderr.strip().splitlines() or ["failed"])[-1]}
    result = json.loads(stdout.strip().splitlines()[-1])
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    speed = [r["images_per_s"] for r in rows if "images_per_s" in r][1:] or \
            [r["images_per_s"] for r in rows if "images_per_s" in r]
    last = [r for r in rows if "emb_std" in r][-1]
    m = result["metrics"]
    return {"method": method, "steps": result["step"], "images_per_s": sum(speed) / max(1, len(speed)),
            "knn": m.get("knn_k200"), "pixels": m.get("knn_pixels_k200"), "random": m.get("knn_random_k200"),
            "peak_mb": usage.ru_maxrss / 1024, "emb_std": last["emb_std"], "eff_rank": last["eff_rank"]}


def table(dataset: str, results: list[dict], budget_s: float, backbone: str, knn: tuple[int, int],
          batch: int, dtype: str, threads: int | None) -> str:
    ok = [r for r in results if "error" not in r]
    base = ok[0] if ok else {}
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = [f"### {dataset}: {budget_s:g} s of training per method",
             "",
             (f"Backbone `{backbone}`, batch {batch}, AdamW lr 1e-3, warm-up 5% then cosine, dtype {dtype}, "
             f"{threads or 'default'} thread(s). kNN top-1 (k=200, cosine, T=0.1; bank {knn[0]} train images, "
             f"{knn[1]} test images) at the end of training. Baselines of the same protocol: raw pixels "
             f"{fmt(base.get('pixels'))}, random-init network {fmt(base.get('random'))}."),
             "",
             ("| method | steps | kNN top-1 | raw pixels | random init | images/s | peak memory (MB) "
             "| emb std | eff. rank |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(f"| {r['method']} | {r['steps']} | {fmt(r['knn'])} | {fmt(r['pixels'])} | {fmt(r['random'])} "
                     f"| {r['images_per_s']:.0f} | {r['peak_mb']:.0f} | {r['emb_std']:.3f} | {r['eff_rank']:.1f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=60, help="seconds of training per method (default 60)")
    p.add_argument("--datasets", nargs="+", default=["shapes", "cifar10"], choices=list(DATASETS))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--backbone", default="vit")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of each run (1 is fastest on a shared, busy CPU)")
    p.add_argument("--knn-bank", type=int, default=5000, help="training images in the kNN bank")
    p.add_argument("--knn-test", type=int, default=1000, help="test images kNN accuracy is measured on")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "methods.md"))
    p.add_argument("--cifar", default=str(CIFAR), help="the CIFAR-10 folder (train/ and test/ class folders)")
    args = p.parse_args()
    header = (f"# Methods at equal budget\n\nWritten by `python bench/methods.py --budget {args.budget:g} "
              f"--datasets {' '.join(args.datasets)} --backbone {args.backbone} --batch-size {args.batch_size} "
              f"--dtype {args.dtype} {f'--threads {args.threads} ' if args.threads else ''}"
              f"--knn-bank {args.knn_bank} "
              f"--knn-test {args.knn_test}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores "
              f"(shared with other jobs while it ran). Budget: {args.budget:g} s of training per method. "
              f"Such short runs rank methods by how fast they start learning, not by where they end.\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = []
    for ds in args.datasets:
        data, data_args = DATASETS[ds]
        if ds == "cifar10":
            if not Path(args.cifar).is_dir():
                print(f"CIFAR-10 not found at {args.cifar}: skipping the CIFAR-10 part", flush=True)
                continue
            data = str(Path(args.cifar).resolve())
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for method in args.methods:
                r = run_one(method, data, data_args, args.budget, args.backbone, Path(tmp) / f"{ds}-{method}",
                            (args.knn_bank, args.knn_test), args.batch_size, args.dtype, args.threads)
                print(json.dumps(r), flush=True)
                results.append(r)
        label = "shapes (32 px, 5,000 train images)" if ds == "shapes" else "CIFAR-10 subset (10,000 train images)"
        sections.append(table(label, results, args.budget, args.backbone, (args.knn_bank, args.knn_test),
                              args.batch_size, args.dtype, args.threads))
        print(sections[-1], flush=True)
        out.write_text(header + "\n" + "\n\n".join(sections) + "\n")  # after each dataset: partial runs land
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
