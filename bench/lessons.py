"""Does every lesson preset show its phenomenon within its own minutes? Each preset trains through the real
CLI, exactly as a class would start it, then gets the figure its lesson is about, beside its baseline:

- lessons about features: kNN top-1 (k=200) on the preset's data against the better of raw pixels and
  the random-init network (target: at least 0.10 above);
- collapse lessons: embedding std and effective rank at the end against the guarded twin, trained the
  same minutes (target: one of them at least 5x lower);
- the attention lesson: the share of the last block's kept attention (DINO's 60% mass) that lies on the
  objects' masks, over the test scenes, beside the random-init network of the same shape;
- the masked-modelling lesson ("see a network learn to fill in the rest"): MAE's own loss on held-out
  scenes, beside the same network at random init and a predictor of each hidden patch's mean colour (target:
  at most half the better of the two, the lesson's "well below"); its kNN is printed beside, as information.

    python bench/lessons.py                          # every lesson preset (about 35 minutes on 2 cores)
    python bench/lessons.py --presets dino-collapse  # one, with its twin

Prints a table; the commands are printed so each figure can be reproduced.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import ROOT, cli

sys.path.insert(0, str(ROOT))  # run as `python bench/...`

from ssl_core.analysis.attention import cls_attention, mass_inside  # noqa: E402
from ssl_core.data import load_data  # noqa: E402
from ssl_core.data.augment import normalize  # noqa: E402
from ssl_core.methods import get_method  # noqa: E402
from ssl_core.models import random_init  # noqa: E402
from ssl_core.models.checkpoint import load_model, read_checkpoint  # noqa: E402
from ssl_core.train.presets import PRESETS  # noqa: E402

ATTENTION = {"dino-shapes"}  # the lesson about emerging attention
RECONSTRUCTION = {"mae-shapes"}  # the lesson about filling in hidden patches
KNN_MARGIN, COLLAPSE_FACTOR, RECONSTRUCTION_FACTOR = 0.10, 5.0, 0.5


def train(preset: str, out: Path) -> tuple[dict, list[dict]]:
    result = cli(["train", "--preset", preset, "--out", out / preset])
    return result, [json.loads(x) for x in (out / preset / "metrics.jsonl").read_text().splitlines()]


def last(metrics: list[dict], key: str) -> float:
    return next(m[key] for m in reversed(metrics) if key in m)


def attention_on_objects(model, meta: dict, data: str, n: int = 256) -> tuple[float, float]:
    """`mass_inside` of the last block's heads over the first n test scenes, objects = every instance mask;
    and the objects' share of the image (what attention spread evenly would score)."""
    images = load_data(data, "test", model.img_size, n)
    norm = meta["normalization"]
    x = normalize(images.images, norm["mean"], norm["std"])
    attn = cls_attention(model, x)  # (n, heads, rows, cols)
    inside = F.adaptive_avg_pool2d((images.masks > 0).float()[:, None], attn.shape[-2:])  # (n, 1, rows, cols)
    return mass_inside(attn.numpy(), inside.numpy()), inside.mean().item()


def feature_row(result: dict, cfg) -> dict:
    ev = cli(["eval", "knn", "--checkpoint", result["checkpoint"], "--data", cfg.data])
    model, bar = ev["model"]["k200"], max(ev["pixels"]["k200"], ev["random_init"]["k200"])
    return dict(figure=f"kNN {model:.3f}", baseline=f"pixels {ev['pixels']['k200']:.3f}, random init "
                f"{ev['random_init']['k200']:.3f}", target=f"+{KNN_MARGIN:.2f}", met=model - bar >= KNN_MARGIN,
                by=f"{model - bar:+.3f}")


def attention_row(result: dict, cfg) -> dict:
    model, meta = load_model(result["checkpoint"])
    with torch.no_grad():
        (ours, area), (rand, _) = (attention_on_objects(m, meta, cfg.data) for m in (model, random_init(meta["arch"])))
    return dict(figure=f"attention on objects {ours:.3f}", baseline=f"random init {rand:.3f} (objects cover "
                f"{area:.3f} of the image)", target="above random",
                met=ours > rand, by=f"{ours - rand:+.3f}")


def held_out_loss(method, images: torch.Tensor, batch: int = 256) -> float:
    """The method's own loss over `images` (uint8), its views and masks drawn by one fixed generator, so every
    model is scored on the same hidden patches (called under reconstruction_row's no_grad)."""
    g, total = torch.Generator().manual_seed(0), 0.0
    method.eval()
    for i in range(0, len(images), batch):
        total += method({"images": images[i:i + batch]}, g).loss.item() * len(images[i:i + batch])
    return total / len(images)


@torch.no_grad()
def reconstruction_row(result: dict, cfg) -> dict:
    """MAE's loss on 1,024 test scenes: the trained run (its checkpoint holds the decoder too), the same
    network at random init, and that network with its last decoder layer zeroed, which predicts 0 for every
    hidden patch: under the per-patch normalised target (norm_pix), each patch's own mean colour."""
    test = load_data(cfg.data, "test", cfg.size, 1024)
    trained, (tensors, _) = get_method(cfg.method).build(cfg, test), read_checkpoint(result["checkpoint"])
    trained.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    torch.manual_seed(0)
    rand, mean = (get_method(cfg.method).build(cfg, test) for _ in range(2))
    mean.decoder_pred.weight.zero_()
    mean.decoder_pred.bias.zero_()
    ours, rand_loss, mean_loss = (held_out_loss(m, test.images) for m in (trained, rand, mean))
    bar = min(rand_loss, mean_loss)
    knn = feature_row(result, cfg)
    return dict(figure=f"held-out loss {ours:.3f} ({knn['figure']})",
                baseline=f"mean colour {mean_loss:.3f}, random init {rand_loss:.3f} ({knn['baseline']})",
                target=f"<= {RECONSTRUCTION_FACTOR:g}x", met=ours <= RECONSTRUCTION_FACTOR * bar,
                by=f"{ours / bar:.2f}x")


def collapse_row(metrics: list[dict], twin: list[dict]) -> dict:
    std, rank = (last(metrics, k) for k in ("emb_std", "eff_rank"))
    std_t, rank_t = (last(twin, k) for k in ("emb_std", "eff_rank"))
    factor = max(std_t / max(std, 1e-12), rank_t / max(rank, 1e-12))
    return dict(figure=f"std {std:.4f}, rank {rank:.1f}", baseline=f"guarded: std {std_t:.4f}, rank {rank_t:.1f}",
                target=f"{COLLAPSE_FACTOR:g}x lower", met=factor >= COLLAPSE_FACTOR, by=f"{factor:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lessons = [n for n, pr in PRESETS.items() if pr["lesson"] and not pr.get("hidden") and "twin" not in pr
               or "guard" in pr]
    p.add_argument("--presets", nargs="*", default=lessons, choices=lessons)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / f"lessons-{int(time.time())}"))
    args = p.parse_args()
    out = Path(args.out)
    rows = []
    for name in args.presets:
        preset = PRESETS[name]
        t = time.perf_counter()
        result, metrics = train(name, out)
        if "guard" in preset:
            row = collapse_row(metrics, train(preset["twin"], out)[1])
        elif name in ATTENTION:
            row = attention_row(result, preset["config"])
        elif name in RECONSTRUCTION:
            row = reconstruction_row(result, preset["config"])
        else:
            row = feature_row(result, preset["config"])
        rows.append(dict(preset=name, minutes=preset["config"].minutes, steps=result["step"],
                         seconds=time.perf_counter() - t, **row))
        print(rows[-1], flush=True)
    print("\n| preset | minutes | steps | figure | baseline | target | by | met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['minutes']:g} | {r['steps']} | {r['figure']} | {r['baseline']} | {r['target']} | "
              f"{r['by']} | {'yes' if r['met'] else '**no**'} |")


if __name__ == "__main__":
    main()
