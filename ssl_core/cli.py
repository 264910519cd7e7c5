"""python -m ssl_core <command>: the engine from the command line; every page of the app can be reproduced here.

Bad input ends with one line on stderr ("error: ...") and exit status 2; never a traceback
(set SSL_LAB_DEBUG=1 to see one).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ssl_core.errors import UserError

DATA_HELP = "a built-in dataset (shapes, digits, photos; options as shapes:n=2000) or a folder of images"


def _out(args, obj: dict, text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text)


def _log(args):
    """Progress lines: to stdout normally, to stderr under --json (stdout then holds one JSON object)."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda msg: print(msg, file=stream, flush=True)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---- commands ---------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from dataclasses import fields

    from ssl_core.train.config import TrainConfig
    from ssl_core.train.presets import PRESETS
    from ssl_core.train.trainer import train

    out = Path(args.out)
    if args.resume:
        if not (out / "config.json").exists():
            raise UserError(f"nothing to resume in {out}: it holds no config.json")
        cfg = TrainConfig.from_json((out / "config.json").read_text())
    elif args.config:
        cfg = TrainConfig.from_json(Path(args.config).read_text())
    elif args.preset:
        if args.preset not in PRESETS:
            raise UserError(f"unknown preset {args.preset!r}: choose one of {', '.join(PRESETS)}")
        cfg = TrainConfig.from_dict(json.loads(PRESETS[args.preset]["config"].to_json()))
    else:
        cfg = TrainConfig()
    flags = {"method": args.method, "data": args.data, "backbone": args.backbone, "size": args.size,
             "limit": args.limit, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
             "dtype": args.dtype, "device": args.device}
    for k, v in flags.items():
        if v is not None:
            setattr(cfg, k, v)
    if any(b is not None for b in (args.steps, args.epochs, args.minutes)):
        cfg.steps, cfg.epochs, cfg.minutes = args.steps, args.epochs, args.minutes
    names = {f.name for f in fields(cfg)}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set takes KEY=VALUE, got {item!r}")
        if key in names and key != "method_args":
            setattr(cfg, key, _parse_value(value))
        else:
            cfg.method_args[key] = _parse_value(value)
    if not args.resume and (out / "config.json").exists() and any(out.glob("checkpoints/*.safetensors")):
        raise UserError(f"{out} already holds a run: use --resume to continue it, or choose another --out")
    result = train(cfg, out, resume=args.resume, queue=args.queue, max_concurrent=args.max_concurrent,
                   log=_log(args))
    m = result.get("metrics", {})
    knn = f"; kNN top-1 {m['knn_k200']:.3f} (raw pixels {m['knn_pixels_k200']:.3f}, random init " \
          f"{m['knn_random_k200']:.3f})" if "knn_k200" in m else ""
    _out(args, result, f"{result['state']} at step {result['step']}: {result.get('checkpoint', '')}{knn}")
    return 0


def cmd_eval(args) -> int:
    from ssl_core.eval.report import evaluate

    r = evaluate(args.checkpoint, args.data, args.train, args.test, probe=args.probe, limit=args.limit,
                 device=args.device)
    if args.probe == "knn":
        rows = [f"{name:12s} k=20 {r[name]['k20']:.4f}  k=200 {r[name]['k200']:.4f}"
                for name in ("model", "pixels", "random_init")]
    else:
        rows = [f"{name:12s} accuracy {r[name]['accuracy']:.4f}" for name in ("model", "pixels", "random_init")]
    _out(args, r, f"{args.probe} top-1 on {r['n_test']} test images ({r['n_train']} train):\n" + "\n".join(rows))
    return 0


def cmd_features(args) -> int:
    from safetensors.torch import save_file

    from ssl_core.analysis.features import extract
    from ssl_core.data import load_data
    from ssl_core.devices import pick_device, use_bf16
    from ssl_core.models.checkpoint import load_model

    dev = pick_device(args.device)
    model, meta = load_model(args.checkpoint, dev)
    data = load_data(args.data, args.split, meta["arch"]["img_size"], args.limit)
    cls, patches = extract(model, data.images, meta["normalization"], patches=True, layer=args.layer, device=dev,
                           bf16=use_bf16("auto", dev))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    save_file({"cls": cls.contiguous(), "patches": patches.contiguous(), "labels": data.labels.contiguous()},
              str(tmp), metadata={"names": json.dumps(data.names), "class_names": json.dumps(data.class_names),
                                  "checkpoint": str(args.checkpoint), "data": args.data, "layer": str(args.layer)})
    os.replace(tmp, out)
    _out(args, {"out": str(out), "cls": list(cls.shape), "patches": list(patches.shape), "skipped": data.skipped},
         f"wrote {out}: cls {tuple(cls.shape)}, patches {tuple(patches.shape)}")
    return 0


def cmd_import(args) -> int:
    from ssl_core.models.checkpoint import describe_checkpoint
    from ssl_core.models.foreign import import_checkpoint

    out = import_checkpoint(args.path, args.kind, args.out)
    info = describe_checkpoint(out)
    a = info["arch"]
    _out(args, info, f"wrote {out}: ViT dim {a['embed_dim']}, depth {a['depth']}, heads {a['num_heads']}, "
                     f"patch {a['patch_size']}, {a['img_size']} px, {info['params'] / 1e6:.1f}M parameters")
    return 0


def cmd_export(args) -> int:
    from ssl_core.models.checkpoint import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.out)
    _out(args, {"out": str(out), "size_mb": round(out.stat().st_size / 1e6, 2)},
         f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): the evaluated backbone only")
    return 0


def cmd_info(args) -> int:
    from ssl_core.models.checkpoint import describe_checkpoint

    info = describe_checkpoint(args.checkpoint)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in info.items()]
    _out(args, info, "\n".join(lines))
    return 0


def cmd_methods(args) -> int:
    from ssl_core.methods import METHODS, method_params

    table = {name: {"description": cls.description, "paper": cls.paper,
                    "params": {p: d for p, d, _ in method_params(name)}} for name, cls in METHODS.items()}
    _out(args, table, "\n".join(f"{n:8s} {m['description']}\n         {m['paper']}" for n, m in table.items()))
    return 0


def cmd_embed(args) -> int:
    from ssl_core.analysis import embedding as emb

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    log = _log(args)
    d = emb.dataset_embedding(args.checkpoint, args.data, args.split, args.limit, args.layer, args.embedding,
                              args.device)
    feats, labels = d["features"], d["labels"]
    log(f"{args.method} of {tuple(feats.shape)} features ...")
    coords = emb.project(feats, args.method, seed=args.seed)
    clusters = emb.kmeans(feats, args.clusters, seed=args.seed) if args.clusters else None
    labelled = bool((labels >= 0).any())
    correct = emb.knn_correct(feats, labels) if labelled else None
    rows = emb.coordinates_table(coords, d["names"], labels, d["class_names"], clusters, correct)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(emb.to_csv(rows))
    os.replace(tmp, out)
    acc = float(correct[labels.numpy() >= 0].mean()) if labelled else None
    summary = {"out": str(out), "points": len(rows), "method": args.method, "embedding": args.embedding,
               "layer": args.layer, "columns": list(rows[0]) if rows else [], "knn_loo_k20": acc}
    knn = f"; leave-one-out kNN top-1 (k=20) {acc:.3f}" if acc is not None else ""
    _out(args, summary, f"wrote {out}: {len(rows)} points by {args.method}{knn}")
    return 0


def cmd_segment(args) -> int:
    from ssl_core.analysis.similarity import parse_point
    from ssl_core.eval.segmentation import segment_file

    r = segment_file(args.checkpoint, args.image, [parse_point(p) for p in args.point],
                     [parse_point(p) for p in args.negative or []], args.threshold, args.out, size=args.size,
                     layer=args.layer, feature=args.feature)
    rule = r["rule"] if r["threshold"] is None else f"{r['rule']} threshold {r['threshold']:.3f}"
    _out(args, r, f"wrote {r['out']}: {r['width']}x{r['height']} mask, {100 * r['foreground']:.1f}% foreground "
                  f"({rule}; {r['grid'][0]}x{r['grid'][1]} patches)" + (f"; image {r['note']}" if r["note"] else ""))
    return 0


def cmd_segment_eval(args) -> int:
    from ssl_core.devices import pick_device, use_bf16
    from ssl_core.eval.segmentation import format_segment_eval, segment_eval
    from ssl_core.models.checkpoint import load_model

    dev = pick_device(args.device)
    model, meta = load_model(args.checkpoint, dev)
    log = _log(args)
    r = segment_eval(model, meta, args.images, args.masks, size=args.size, threshold=args.threshold, layer=args.layer,
                     feature=args.feature, limit=args.limit, bf16=use_bf16("auto", dev),
                     progress=lambda i, n: log(f"{i}/{n} images") if i % 50 == 0 or i == n else None)
    if not args.per_image:
        r.pop("per_image")
    _out(args, r, format_segment_eval(r))
    return 0


# ---- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ssl_core", description="SSL Lab: train and inspect "
                                "self-supervised vision models.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a self-supervised model into a run folder")
    t.add_argument("--method", help="simclr, dino, mae, ... (see `methods`)")
    t.add_argument("--data", help=DATA_HELP)
    t.add_argument("--out", required=True, help="the run folder (config.json, metrics.jsonl, checkpoints/)")
    t.add_argument("--backbone", help="vit (default, sized for the data), vit-small, vit:dim=..., resnet18, ...")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="budget in optimiser steps (default 1000)")
    budget.add_argument("--epochs", type=float, help="budget in passes over the data")
    budget.add_argument("--minutes", type=float, help="budget in minutes of training")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--preset", help="start from a classroom preset (see the Train page)")
    t.add_argument("--config", help="a config.json to start from")
    t.add_argument("--size", type=int, help="training resolution in pixels")
    t.add_argument("--limit", type=int, help="use only this many training images")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, help="peak learning rate")
    t.add_argument("--seed", type=int)
    t.add_argument("--dtype", choices=["auto", "bf16", "fp32"])
    t.add_argument("--device", help="auto, cpu, cuda, mps")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any config field (warmup=0.1, schedule=infinite) or method parameter (temperature=0.2)")
    t.add_argument("--queue", help=argparse.SUPPRESS)  # slot folder, used by the app's launcher
    t.add_argument("--max-concurrent", type=int, default=2, help=argparse.SUPPRESS)
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint's frozen features beside the baselines")
    e.add_argument("probe", choices=["knn", "linear"])
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", help=DATA_HELP + " (its train and test splits)")
    e.add_argument("--train", help="training data, with --test")
    e.add_argument("--test", help="test data, with --train")
    e.add_argument("--limit", type=int, help="use only this many training images")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("features", help="write CLS and patch features of a dataset to a .safetensors file")
    f.add_argument("--checkpoint", required=True)
    f.add_argument("--data", required=True, help=DATA_HELP)
    f.add_argument("--out", required=True)
    f.add_argument("--split", default="train", choices=["train", "test"])
    f.add_argument("--limit", type=int)
    f.add_argument("--layer", type=int, default=-1, help="ViT block whose tokens to export (-1: last, normalised)")
    f.add_argument("--device", default="auto")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_features)

    i = sub.add_parser("import", help="convert a DINO or timm ViT checkpoint into an SSL Lab checkpoint")
    i.add_argument("--from", dest="kind", required=True, choices=["dino", "timm"])
    i.add_argument("path")
    i.add_argument("--out", required=True)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_import)

    x = sub.add_parser("export", help="keep only the evaluated backbone of a training checkpoint (to ship it)")
    x.add_argument("checkpoint")
    x.add_argument("--out", required=True)
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_export)

    n = sub.add_parser("info", help="describe a checkpoint")
    n.add_argument("checkpoint")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_info)

    m = sub.add_parser("methods", help="list the SSL methods")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_methods)

    b = sub.add_parser("embed", help="2-D map (UMAP, PCA or t-SNE) of a dataset's embeddings, as a CSV")
    b.add_argument("--checkpoint", required=True)
    b.add_argument("--data", required=True, help=DATA_HELP)
    b.add_argument("--method", required=True, choices=["umap", "pca", "tsne"])
    b.add_argument("--out", required=True, help="CSV: index, name, x, y, label, label_name, cluster, knn_correct")
    b.add_argument("--split", default="test", choices=["train", "test"])
    b.add_argument("--limit", type=int, help="use only this many images (a class-balanced subset)")
    b.add_argument("--embedding", default="cls", choices=["cls", "mean"],
                   help="cls: the CLS token (pooled map for ResNets); mean: the mean of the patch tokens")
    b.add_argument("--layer", type=int, default=-1, help="ViT block to read (-1: last, normalised)")
    b.add_argument("--clusters", type=int, default=10, help="k-means clusters in the CSV (0: none)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--device", default="auto")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_embed)
    g = sub.add_parser("segment", help="zero-shot mask of an image from clicked points (patch similarity)")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--image", required=True, help="any common image format; EXIF orientation is honoured")
    g.add_argument("--point", action="append", required=True, metavar="X,Y",
                   help="a positive click, in pixels of the original image (repeat for several)")
    g.add_argument("--negative", action="append", metavar="X,Y",
                   help="a negative click: the mask becomes nearest-prototype (best positive beats best negative)")
    g.add_argument("--threshold", default="otsu", help="a cosine similarity (e.g. 0.5) or otsu (default)")
    g.add_argument("--out", required=True, help="the mask PNG (255 = foreground), the size of the original image")
    g.add_argument("--size", type=int, help="input resolution in pixels (default: the model's; positions interpolate)")
    g.add_argument("--layer", type=int, default=-1, help="ViT block whose features to compare (-1: the last)")
    g.add_argument("--feature", default="tokens", choices=["tokens", "keys"], help="output tokens or attention keys")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_segment)

    se = sub.add_parser("segment-eval", help="one-click zero-shot segmentation Jaccard beside the baselines")
    se.add_argument("--checkpoint", required=True)
    se.add_argument("--images", required=True, help="a folder of images")
    se.add_argument("--masks", required=True, help="a folder of masks paired by file stem (non-zero = foreground)")
    se.add_argument("--size", type=int, help="input resolution in pixels (default: the model's)")
    se.add_argument("--threshold", type=float, default=0.5, help="the fixed cosine threshold (default 0.5)")
    se.add_argument("--layer", type=int, default=-1)
    se.add_argument("--feature", default="tokens", choices=["tokens", "keys"])
    se.add_argument("--limit", type=int, help="use only the first N pairs")
    se.add_argument("--device", default="auto")
    se.add_argument("--per-image", action="store_true", help="include each image's figures in --json output")
    se.add_argument("--json", action="store_true")
    se.set_defaults(func=cmd_segment_eval)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3 if type(e).__name__ == "Diverged" else 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("SSL_LAB_DEBUG"):
            raise
        line = (str(e).splitlines() or [""])[0][:200]
        print(f"error: {type(e).__name__}: {line} (set SSL_LAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
