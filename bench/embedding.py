"""Embedding-map speed: UMAP on 10,000 points in fresh processes (with and without our precomputed cosine
kNN graph), PCA and t-SNE, and how Chromium draws and pans 50,000 WebGL points.

    python bench/embedding.py                         # 10,000 random 192-d points
    python bench/embedding.py --checkpoint CKPT       # CIFAR-10 test features through CKPT
    python bench/embedding.py --no-browser            # skip the Chromium part

Every timing is wall-clock in a fresh `python` process (imports and numba compilation included, as a user
of the CLI pays them), plus the CPU seconds of that process, since a shared machine inflates wall time.
Prints figures; asserts nothing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIFAR = "/work/shared/data/cifar10"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from ssl_core.analysis import embedding as emb
x = torch.from_numpy(np.load(sys.argv[1]))
method, mode = sys.argv[2], sys.argv[3]
t1 = time.perf_counter()
if method == "umap":
    emb.umap(x, seed=0, precomputed=(mode == "graph"))
elif method == "knn":
    emb.knn_graph(x, 15)
else:
    emb.project(x, method, seed=0)
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"total_s": t2 - t0, "run_s": t2 - t1, "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def features(checkpoint: str | None, n: int):
    import numpy as np
    import torch

    if checkpoint:
        from ssl_core.features import dataset_features

        f = dataset_features(checkpoint, CIFAR, "test", n).pooled("cls")
        return f.numpy(), f"{len(f)} CIFAR-10 test features ({f.shape[1]}-d) " \
                                      f"through {checkpoint}"
    x = torch.randn(n, 192, generator=torch.Generator().manual_seed(0)).numpy()
    return x.astype(np.float32), f"{n} random 192-d points (no checkpoint given)"


def fresh(path: str, method: str, mode: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, path, method, mode], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-1500:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def browser(n: int) -> dict:
    """Draw n Scattergl points with the plotly.js that ships in the plotly package, in headless Chromium;
    time Plotly.newPlot until 'plotly_afterplot', then 10 pans (relayout) and their mean redraw time."""
    import plotly
    from playwright.sync_api import sync_playwright

    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    html = Path(tempfile.mkdtemp()) / "map.html"
    html.write_text(f"<html><body><div id='g' style='width:1200px;height:800px'></div>"
                    f"<script src='file://{js}'></script></body></html>")
    script = """async (n) => {
      let s = 1; const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
      const traces = [];
      for (let c = 0; c < 10; c++) {
        const x = new Float32Array(n / 10), y = new Float32Array(n / 10);
        for (let i = 0; i < n / 10; i++) { x[i] = c + r() * 3; y[i] = (c % 3) + r() * 3; }
        traces.push({type: 'scattergl', mode: 'markers', x, y, marker: {size: 3}});
      }
      const gd = document.getElementById('g');
      const done = () => new Promise(res => gd.once ? gd.once('plotly_afterplot', res) : res());
      const t0 = performance.now();
      await Plotly.newPlot(gd, traces, {dragmode: 'pan'});
      await new Promise(requestAnimationFrame);
      const draw = performance.now() - t0;
      const pans = [];
      for (let k = 0; k < 10; k++) {
        const t = performance.now();
        await Plotly.relayout(gd, {'xaxis.range': [k * 0.3, 8 + k * 0.3], 'yaxis.range': [0, 5]});
        await new Promise(requestAnimationFrame);
        pans.push(performance.now() - t);
      }
      return {draw_ms: draw, pan_ms: pans.reduce((a, b) => a + b) / pans.length, pan_max_ms: Math.max(...pans)};
    }"""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"),
                              args=["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"])
        page = b.new_page()
        page.goto(f"file://{html}")
        page.wait_for_function("() => window.Plotly !== undefined")
        out = page.evaluate(script, n)
        b.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--browser-points", type=int, default=50_000)
    p.add_argument("--no-browser", action="store_true")
    args = p.parse_args()

    import numpy as np

    x, what = features(args.checkpoint, args.n)
    path = Path(tempfile.mkdtemp()) / "x.npy"
    np.save(path, x)
    print(f"data: {what}; {os.cpu_count()} CPUs")
    rows = [("torch cosine kNN graph (k=15)", "knn", ""),
            ("UMAP with the precomputed graph", "umap", "graph"),
            ("UMAP with umap-learn's own NN-descent", "umap", "own"),
            ("PCA (torch SVD)", "pca", ""),
            ("t-SNE (scikit-learn, 50 PCs)", "tsne", "")]
    for name, method, mode in rows:
        r = fresh(str(path), method, mode)
        print(f"{name:40s} fresh process {r['total_s']:6.1f} s  (the call {r['run_s']:6.1f} s, "
              f"CPU {r['cpu_s']:6.1f} s)", flush=True)
    if not args.no_browser:
        b = browser(args.browser_points)
        print(f"Chromium, {args.browser_points} Scattergl points (software WebGL): first draw {b['draw_ms']:.0f} ms, "
              f"pan redraw mean {b['pan_ms']:.0f} ms, max {b['pan_max_ms']:.0f} ms")


if __name__ == "__main__":
    main()
