"""python -m ssl_core <command>: the engine from the command line; every page of the app can be reproduced here.

Each command is one function that reads like the recipe it runs; the engine does the work. Each imports
the engine modules that need torch when it runs, so `--help` answers at once (torch takes seconds to import).
Bad input ends with one line on stderr ("error: ...") and exit status 2; never a traceback (set
SSL_LAB_DEBUG=1 to see one). Long commands print progress on stderr.
"""

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import fields
from pathlib import Path

from ssl_core.errors import UserError
from ssl_core.files import atomic_write
from ssl_core.train.config import TrainConfig  # torch-free, as errors and files: --help stays instant
from ssl_core.train.presets import PRESETS

DATA_HELP = "a built-in dataset (shapes, digits, photos; options as shapes:n=2000) or a folder of images"
DTYPE_HELP = "precision of the forward pass: fp32 (exact), bf16, or auto (bf16 where the hardware runs it fast)"
DEVICE_HELP = "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda or mps"
JSON_HELP = "print one JSON object on stdout (progress goes to stderr)"
CHECKPOINT_HELP = "an SSL Lab checkpoint (.safetensors), or a DINO / timm ViT file (.pth, .safetensors)"


def _out(args, obj: dict, text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text)


def _log(args):
    """Progress lines: to stdout normally, to stderr under --json (stdout then holds one JSON object)."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda msg: print(msg, file=stream, flush=True)


def _progress(what: str):
    """A progress callback (fraction done) that prints a line to stderr every 10% and at the end."""
    state = {"last": -1, "start": time.perf_counter()}

    def report(fraction: float) -> None:
        tenth = int(fraction * 10)
        if tenth > state["last"]:
            state["last"] = tenth
            print(f"{what}: {fraction:.0%} ({time.perf_counter() - state['start']:.0f} s)", file=sys.stderr, flush=True)
    return report


def parse_value(text: str):
    """A `--set` value: JSON where it parses (numbers, booleans, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _write_text(path, text: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--out {path} is a folder: give a file name inside it")
    return atomic_write(path, text)


# ---- train ------------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from ssl_core.train.trainer import Diverged, train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: a run is a folder; give a new folder name")
    if args.resume:
        if not (out / "config.json").exists():
            raise UserError(f"nothing to resume in {out}: it holds no config.json")
        cfg = TrainConfig.from_json((out / "config.json").read_text())
    elif args.config:
        if not Path(args.config).is_file():
            raise UserError(f"no config file at {args.config}: give the path of a config.json")
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
        key = {"knn_every": "eval_every"}.get(key, key)
        if key in names and key != "method_args":
            setattr(cfg, key, parse_value(value))
        else:
            cfg.method_args[key] = parse_value(value)
    if not args.resume and (out / "config.json").exists() and any(out.glob("checkpoints/*.safetensors")):
        raise UserError(f"{out} already holds a run: use --resume to continue it, or choose another --out")
    master = int(os.environ.get("RANK", 0)) == 0
    created = master and not out.exists()
    if not args.resume and not (out / "config.json").exists() and master:
        from ssl_core import runs
        from ssl_core.methods import get_method

        runs.create(out, get_method(cfg.method).kind, cfg, args.owner, preset=args.preset)
    try:
        result = train(cfg, out, resume=args.resume, queue=args.queue, max_concurrent=args.max_concurrent,
                       log=_log(args))
    except UserError as e:
        refused = created and not isinstance(e, Diverged) and not any(out.glob("checkpoints/*.safetensors"))
        if refused:  # before its first step: leave nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    if not master:
        return 0
    m = result.get("metrics", {})
    knn = f"; kNN top-1 {m['knn_k200']:.3f} (raw pixels {m['knn_pixels_k200']:.3f}, random init " \
          f"{m['knn_random_k200']:.3f})" if "knn_k200" in m else ""
    _out(args, result, f"{result['state']} at step {result['step']}: {result.get('checkpoint', '')}{knn}")
    return 0


# ---- features and evaluation ------------------------------------------------------------------

def cmd_features(args) -> int:
    from ssl_core.features import TOKENS, dataset_features, save_features

    tokens = [t.strip() for t in args.tokens.split(",") if t.strip()]
    bad = [t for t in tokens if t not in TOKENS]
    if bad or not tokens:
        raise UserError(f"--tokens takes a comma list of {', '.join(TOKENS)} (got {args.tokens!r})")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name such as {out / 'features.safetensors'}")
    f = dataset_features(args.checkpoint, args.data, args.split, args.limit, args.layer, tokens, args.dtype,
                         args.device, progress=_progress("features"))
    save_features(out, f)
    shapes = {t: list(v.shape) for t, v in f.tensors.items()}
    _out(args, {"out": str(out), "images": len(f), "skipped": f.source.get("skipped", 0), "tokens": shapes,
                "dtype": f.source.get("dtype")},
         f"wrote {out}: {len(f)} images ({f.source.get('skipped', 0)} unreadable skipped), "
         + ", ".join(f"{t} {tuple(s)}" for t, s in shapes.items()) + f", {f.source.get('dtype')}")
    return 0


def cmd_eval(args) -> int:
    from ssl_core.data import load_data
    from ssl_core.eval.baselines import pixel_features
    from ssl_core.eval.knn import knn_accuracy
    from ssl_core.eval.linear import linear_probe
    from ssl_core.features import dataset_features
    from ssl_core.models.checkpoint import read_backbone

    if args.train and args.test:
        (tr_data, tr_split), (te_data, te_split) = (args.train, "train"), (args.test, "test")
    elif args.data:
        (tr_data, tr_split), (te_data, te_split) = (args.data, "train"), (args.data, "test")
    else:
        raise UserError("give --data DATA, or both --train DATA and --test DATA")
    pool = read_backbone(args.checkpoint)[1].get("pool", "cls")

    def feats(data, split, limit, twin):
        what = f"{'random-init ' if twin else ''}features of {data} ({split})"
        return dataset_features(args.checkpoint, data, split, limit, -1, (pool,), args.dtype, args.device,
                                random_init_twin=twin, progress=_progress(what))

    model = (feats(tr_data, tr_split, args.limit, False), feats(te_data, te_split, None, False))
    twin = (feats(tr_data, tr_split, args.limit, True), feats(te_data, te_split, None, True))
    if not (model[0].labelled and model[1].labelled):
        raise UserError("evaluation needs labels: give a built-in labelled dataset or a folder of class subfolders")
    size = model[0].source["size"]
    pixels = [pixel_features(load_data(d, s, size, lim).images) for d, s, lim in
              ((tr_data, tr_split, args.limit), (te_data, te_split, None))]
    y_train, y_test = model[0].labels, model[1].labels

    def score(f_train, f_test):
        if args.probe == "knn":
            acc = knn_accuracy(f_train, y_train, f_test, y_test, (20, 200))
            return {"k20": acc[20], "k200": acc[200]}
        return linear_probe(f_train, y_train, f_test, y_test)

    r = {"probe": args.probe, "checkpoint": str(args.checkpoint), "n_train": len(y_train), "n_test": len(y_test),
         "pool": pool, "dtype": model[0].source.get("dtype"),
         "model": score(model[0].pooled(pool), model[1].pooled(pool)),
         "pixels": score(*pixels), "random_init": score(twin[0].pooled(pool), twin[1].pooled(pool))}
    if args.probe == "knn":
        rows = [f"{name:12s} k=20 {r[name]['k20']:.4f}  k=200 {r[name]['k200']:.4f}"
                for name in ("model", "pixels", "random_init")]
    else:
        rows = [f"{name:12s} accuracy {r[name]['accuracy']:.4f}" for name in ("model", "pixels", "random_init")]
    _out(args, r, f"{args.probe} top-1 on {r['n_test']} test images ({r['n_train']} train):\n" + "\n".join(rows))
    return 0


# ---- checkpoints ------------------------------------------------------------------------------

def cmd_import(args) -> int:
    from ssl_core.models.checkpoint import describe_checkpoint, import_checkpoint

    out = import_checkpoint(args.path, args.kind, args.out)
    info = describe_checkpoint(out)
    a = info["arch"]
    _out(args, info, f"wrote {out}: ViT dim {a['embed_dim']}, depth {a['depth']}, heads {a['num_heads']}, "
                     f"patch {a['patch_size']}, {a['img_size']} px, {info['params'] / 1e6:.1f}M parameters")
    return 0


def cmd_export(args) -> int:
    from ssl_core.models.checkpoint import export_checkpoint

    if Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a folder: give a file name such as model.safetensors")
    out = export_checkpoint(args.checkpoint, args.out)
    _out(args, {"out": str(out), "size_mb": round(out.stat().st_size / 1e6, 2)},
         f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): the evaluated backbone only")
    return 0


def cmd_info(args) -> int:
    from ssl_core.models.checkpoint import describe_checkpoint

    info = describe_checkpoint(args.checkpoint)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in info.items()]
    _out(args, info, "\n".join(lines))
    return 0


def cmd_methods(args) -> int:
    from ssl_core.methods import METHODS, method_params

    table = {name: {"kind": cls.kind, "description": cls.description, "paper": cls.paper,
                    "params": {p: d for p, d, _ in method_params(name)}} for name, cls in METHODS.items()}
    _out(args, table, "\n".join(f"{n:10s} {m['description']}\n           {m['paper']}" for n, m in table.items()))
    return 0


# ---- maps and segmentation --------------------------------------------------------------------

def cmd_embed(args) -> int:
    from ssl_core.analysis import embedding as emb
    from ssl_core.features import dataset_features

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    log = _log(args)
    f = dataset_features(args.checkpoint, args.data, args.split, args.limit, args.layer, (args.embedding,), args.dtype,
                         args.device, progress=_progress("features"))
    feats, labels = f.pooled(args.embedding), f.labels
    log(f"{args.method} of {len(f)} images ({args.split} split of {args.data}) ...")
    coords = emb.project(feats, args.method, seed=args.seed)
    clusters = emb.kmeans(feats, args.clusters, seed=args.seed) if args.clusters else None
    correct = emb.knn_correct(feats, labels) if f.labelled else None
    rows = emb.coordinates_table(coords, f.names, labels, f.class_names, clusters, correct)
    out = _write_text(args.out, emb.to_csv(rows))
    acc = float(correct[labels.numpy() >= 0].mean()) if f.labelled else None
    summary = {"out": str(out), "points": len(rows), "method": args.method, "embedding": args.embedding,
               "layer": args.layer, "split": args.split, "columns": list(rows[0]) if rows else [],
               "knn_loo_k20": acc, "skipped": f.source.get("skipped", 0)}
    knn = f"; leave-one-out kNN top-1 (k=20) {acc:.3f}" if acc is not None else ""
    _out(args, summary, f"wrote {out}: {len(rows)} points by {args.method}{knn}")
    return 0


def cmd_segment(args) -> int:
    import numpy as np
    from PIL import Image

    from ssl_core.analysis.similarity import (
        extract_patch_features,
        parse_point,
        parse_threshold,
        segment,
    )
    from ssl_core.data.images import load_image, original_size
    from ssl_core.devices import use_bf16
    from ssl_core.models.checkpoint import load_model

    threshold = parse_threshold(args.threshold)
    points, negatives = [parse_point(p) for p in args.point], [parse_point(p) for p in args.negative or []]
    if args.size is not None and not 8 <= args.size <= 2048:
        raise UserError(f"--size {args.size} is out of range: use 8 to 2048 px")
    model, meta = load_model(args.checkpoint)
    pil, note = load_image(args.image, 4096)
    image = np.asarray(pil)
    # Clicks are in the original's pixels; the mask is written at the original's size.
    width, height = original_size(args.image) if note else (image.shape[1], image.shape[0])
    scale = image.shape[1] / width
    start = time.perf_counter()
    feats = extract_patch_features(model, image, meta.get("normalization"), args.size, args.layer, args.feature,
                                   use_bf16(args.dtype, next(model.parameters()).device))
    seg = segment(feats, [(x * scale, y * scale) for x, y in points], [(x * scale, y * scale) for x, y in negatives],
                  threshold)
    mask = Image.fromarray((seg.mask * 255).astype(np.uint8), "L")
    if mask.size != (width, height):
        mask = mask.resize((width, height), Image.NEAREST)
    rule = ("otsu" if threshold == "otsu" else "fixed") + ("+negatives" if negatives else "")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name such as mask.png")
    atomic_write(out, lambda tmp: mask.save(tmp, format="PNG"))
    r = {"image": str(args.image), "width": width, "height": height, "note": note,
         "points": [list(p) for p in points], "negatives": [list(p) for p in negatives],
         "patches": [list(p) for p in seg.patches], "grid": list(feats.frame.grid),
         "input": [feats.frame.rw, feats.frame.rh], "rule": rule, "threshold": seg.threshold,
         "foreground": float(seg.mask.mean()), "seconds": round(time.perf_counter() - start, 3), "out": str(out)}
    rule_text = r["rule"] if r["threshold"] is None else f"{r['rule']} threshold {r['threshold']:.3f}"
    _out(args, r, f"wrote {out}: {width}x{height} mask, {100 * r['foreground']:.1f}% foreground "
                  f"({rule_text}; {r['grid'][0]}x{r['grid'][1]} patches)" + (f"; image {note}" if note else ""))
    return 0


def cmd_segment_eval(args) -> int:
    from ssl_core.analysis.segmentation import format_segment_eval, segment_eval
    from ssl_core.devices import pick_device, use_bf16
    from ssl_core.models.checkpoint import load_model

    dev = pick_device(args.device)
    model, meta = load_model(args.checkpoint, dev)
    log = _log(args)
    r = segment_eval(model, meta, args.images, args.masks, size=args.size, threshold=args.threshold, layer=args.layer,
                     feature=args.feature, limit=args.limit, negative=args.negative, bf16=use_bf16(args.dtype, dev),
                     progress=lambda i, n: log(f"{i}/{n} images") if i % 50 == 0 or i == n else None)
    if not args.per_image:
        r.pop("per_image")
    _out(args, r, format_segment_eval(r))
    return 0



# ---- probe ------------------------------------------------------------------------------------

def _latent_options(args):
    from ssl_core.probe.latent import LatentSpec
    from ssl_core.probe.shortcut import ModelSpec

    spec = LatentSpec(rho_core=args.rho_core, rho_shortcut=args.rho_shortcut, alpha_core=args.alpha_core,
                      alpha_shortcut=args.alpha_shortcut, nest_core=args.nest_core, nest_shortcut=args.nest_shortcut,
                      dim=args.dim, n_train=args.n_train)
    model = ModelSpec(model=args.model, depth=args.depth, activation=args.activation, hidden=args.hidden,
                      epochs=args.epochs).validate()
    return spec, model


def cmd_probe_shortcut(args) -> int:
    from ssl_core.probe.shortcut import cell

    spec, model = _latent_options(args)
    c = cell(spec, model, args.seeds)
    c.pop("regions")
    _out(args, c, f"{model.label}, {args.seeds} seed(s): shortcut bias {c['bias']:+.3f} ± {c['bias_std']:.3f} "
                  f"(ours: reliance on the shortcut beyond the core, minus the Bayes rule's)\n"
                  f"reliance: model {c['reliance_model']:+.3f}, Bayes {c['reliance_bayes']:+.3f}; "
                  f"test accuracy: model {c['accuracy']:.3f}, Bayes {c['bayes_accuracy']:.3f}")
    return 0


def cmd_probe_sweep(args) -> int:
    import csv
    import io

    from ssl_core.probe.shortcut import parse_list, sweep

    spec, model = _latent_options(args)
    ratios, rhos = parse_list(args.alpha_ratios, "--alpha-ratios"), parse_list(args.rho_shortcuts, "--rho-shortcuts")
    start = time.perf_counter()
    rows = sweep(ratios, rhos, model, args.seeds, spec,
                 progress=lambda i, n: print(f"cell {i}/{n}", file=sys.stderr, flush=True))
    fields = ["alpha_ratio", "rho_shortcut", "bias", "bias_std", "reliance_model", "reliance_bayes", "accuracy",
              "bayes_accuracy"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out = _write_text(args.out, buf.getvalue())
    seconds = round(time.perf_counter() - start, 1)
    _out(args, {"out": str(out), "cells": len(rows), "seeds": args.seeds, "seconds": seconds,
                "rows": [{k: r[k] for k in fields} for r in rows]},
         f"wrote {out}: {len(rows)} cells of {args.seeds} seed(s) in {seconds} s")
    return 0


def cmd_probe_images(args) -> int:
    from ssl_core.probe.images import image_study

    r = image_study(args.shortcut, args.rate, args.model, args.checkpoint, args.n, args.steps, args.seed)
    t, s = r["trained"], r["shape_only"]
    _out(args, r, f"{args.model} trained with the {args.shortcut} shortcut at rate {args.rate:g}, on "
                  f"{r['n_conflict']} conflict scenes (the shortcut points to the other class):\n"
                  f"follows the shape {t['follows_shape']:.3f}, the shortcut {t['follows_shortcut']:.3f}; "
                  f"a shape-only {args.model} (trained at rate 0) follows the shape {s['follows_shape']:.3f}")
    return 0


def cmd_probe_factors(args) -> int:
    from ssl_core.probe.factors import factor_probes

    r = factor_probes(args.checkpoint, args.data, args.layer, None, args.limit, args.dtype,
                      progress=lambda i, n: print(f"factor {i}/{n}", file=sys.stderr, flush=True))
    rows = [f"{'factor':12s} {'chance':>7s} {'model':>14s} {'raw pixels':>14s} {'random init':>14s}   (linear / kNN)"]
    for f in r["factors"]:
        cell_ = lambda k, f=f: f"{f[k]['linear']:.3f} / {f[k]['knn']:.3f}"  # noqa: E731
        rows.append(f"{f['factor']:12s} {f['chance']:7.3f} {cell_('model'):>14s} {cell_('pixels'):>14s} "
                    f"{cell_('random_init'):>14s}")
    _out(args, r, f"factor probes on {r['n_test']} test images ({r['n_train']} train), layer {r['layer']}, "
                  f"{r['pool']} features:\n" + "\n".join(rows))
    return 0


# ---- sparse autoencoders ----------------------------------------------------------------------

def cmd_sae_train(args) -> int:
    from ssl_core.sae.files import save_sae
    from ssl_core.train.trainer import Trainer

    if bool(args.features) == bool(args.checkpoint):
        raise UserError("give the features to learn: --checkpoint CKPT --data DATA, or --features FILE")
    if args.checkpoint and not args.data:
        raise UserError("--checkpoint needs --data: the images whose features the SAE learns")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name such as sae.safetensors")
    method_args = {"variant": args.kind, "k": args.k, "l1": args.l1,
                   **({"width": args.width} if args.width else {"expansion": args.expansion})}
    budget = {"steps": args.steps, "epochs": args.epochs, "minutes": args.minutes}
    if all(v is None for v in budget.values()):
        budget["epochs"] = 5
    cfg = TrainConfig(method="sae", data=args.data or "", checkpoint=args.checkpoint, features=args.features,
                      layer=args.layer, tokens=args.tokens, batch_size=args.batch_size, lr=args.lr, warmup=0.05,
                      weight_decay=0.0, dtype=args.dtype, device=args.device, seed=args.seed, eval_every=0,
                      log_every=50, method_args=method_args, **budget)
    log = _log(args)
    trainer = Trainer(cfg, None, log=log)
    result = trainer.run()
    m = result["metrics"]
    save_sae(out, trainer.method, {"method": "sae", "data": {"spec": cfg.data}, "step": result["step"], "metrics": m,
                                   "config": json.loads(cfg.to_json())})
    _out(args, {**result, "out": str(out), "tokens_trained": result["step"] * cfg.batch_size},
         f"wrote {out}: {trainer.monitor.summary(m)} after {result['step']} steps of {cfg.batch_size} tokens")
    return 0


def _sae_and_tokens(sae_path, features_path, tokens: str | None):
    from ssl_core.features import load_features
    from ssl_core.sae.browse import check_width, token_grid
    from ssl_core.sae.files import load_sae

    sae, meta = load_sae(sae_path)
    f = load_features(features_path)
    kind = tokens or (meta.get("source") or {}).get("tokens") or ("patch" if "patch" in f.tensors else "cls")
    grid = token_grid(f, kind)
    check_width(sae, grid, f"the features in {Path(features_path).name}")
    return sae, meta, f, kind, grid


def cmd_sae_eval(args) -> int:
    import torch

    from ssl_core.sae.browse import encode_dense, reconstruct
    from ssl_core.sae.metrics import density_histogram, explained_variance

    sae, meta, f, kind, grid = _sae_and_tokens(args.sae, args.features, args.tokens)
    x = grid.reshape(-1, grid.shape[-1])
    acts = encode_dense(sae, x)
    fires = (acts > 0).float()
    density = fires.mean(0)
    counts, edges = density_histogram(density)
    r = {"explained_variance": explained_variance(x, reconstruct(sae, grid).reshape(x.shape)),
         "l0": float(fires.sum(1).mean()), "dead_fraction": float((density == 0).float().mean()),
         "tokens": len(x), "kind": kind, "width": sae.width, "variant": sae.variant,
         "log10_density_histogram": {"counts": torch.as_tensor(counts).tolist(), "edges": torch.as_tensor(edges).tolist()}}
    _out(args, r, f"{len(x)} {kind} tokens: explained variance {r['explained_variance']:.3f}, L0 {r['l0']:.1f}, "
                  f"dead (never firing here) {r['dead_fraction']:.1%} of {sae.width} latents")
    return 0


def cmd_sae_top(args) -> int:
    from ssl_core.data import load_data
    from ssl_core.features import dataset_features
    from ssl_core.sae.browse import apply
    from ssl_core.sae.files import load_sae
    from ssl_core.sae.pictures import heat_overlay, save_png

    sae, meta = load_sae(args.sae)
    source = meta.get("source") or {}
    kind, layer = source.get("tokens", "patch"), int(source.get("layer", -1))
    f = dataset_features(args.checkpoint, args.data, "all", args.limit, layer, (kind,), "auto",
                         progress=_progress("features"))
    d = apply(sae, f, kind)
    top = d.top_images(args.feature, args.k)
    if not top:
        raise UserError(f"feature {args.feature} never fires on these images: pick another (`sae eval` shows the dead ones)")
    images = load_data(args.data, "all", f.source["size"], args.limit)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: give a folder for the pictures")
    written = [save_png(out / f"feature{args.feature:05d}_{rank:02d}_image{i}.png",
                        heat_overlay(images.images[i], d.heatmap(i, args.feature) if kind == "patch" else None))
               for rank, i in enumerate(top)]
    _out(args, {"out": str(out), "feature": args.feature, "images": top, "files": [str(w) for w in written],
                "activations": [float(d.image_max[i, args.feature]) for i in top]},
         f"wrote {len(written)} pictures of feature {args.feature}'s top images to {out}")
    return 0


def cmd_sae_supervised(args) -> int:
    from ssl_core.features import load_features
    from ssl_core.sae.browse import token_grid
    from ssl_core.sae.dictionaries import (
        dictionary_explained_variance,
        fit_probe,
        probe_f1,
        supervised_dictionary,
        supervised_edit_rate,
    )

    f = load_features(args.features)
    codes = dict(f.codes) or ({"label": f.labels} if f.labelled else {})
    if args.factor not in codes:
        raise UserError(f"these features have no factor {args.factor!r}: they have {', '.join(codes) or 'none'}")
    kind = args.tokens or ("cls" if "cls" in f.tensors else "patch")
    grid = token_grid(f, kind)
    x = grid.mean(dim=(1, 2))  # one row an image: its CLS token, or the mean of its patch tokens
    c = {args.factor: codes[args.factor].long()}
    n_values = {args.factor: int(c[args.factor].max()) + 1}
    names = (f.vocab.get(args.factor) if f.codes else f.class_names) or [str(v) for v in range(n_values[args.factor])]
    dictionary = supervised_dictionary(x, c, n_values)
    probe = fit_probe(x, c[args.factor], n_values[args.factor])
    control = supervised_edit_rate(x, c[args.factor], dictionary.vectors[args.factor], probe)
    r = {"factor": args.factor, "values": names[:n_values[args.factor]], "rows": len(x), "kind": kind,
         "explained_variance": dictionary_explained_variance(dictionary, x, c),
         "control_rate": control["rate"], "probe_f1": probe_f1(probe, x, c[args.factor], n_values[args.factor]).tolist(),
         "vector_norms": dictionary.vectors[args.factor].norm(dim=1).tolist()}
    _out(args, r, f"supervised dictionary of {args.factor} ({n_values[args.factor]} values) on {len(x)} images: "
                  f"explained variance {r['explained_variance']:.3f}; an edit u(old) -> u(new) moves a linear probe to "
                  f"the new value {r['control_rate']:.1%} of the time")
    return 0

# ---- parser -----------------------------------------------------------------------------------

def _model_options(p, dtype_default: str = "auto") -> None:
    p.add_argument("--dtype", default=dtype_default, choices=["auto", "bf16", "fp32"], help=DTYPE_HELP)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ssl_core", description="SSL Lab: train and inspect "
                                "self-supervised vision models.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (SSL, classifier or sparse autoencoder) into a run folder")
    t.add_argument("--method", help="simclr, dino, mae, ..., supervised or sae (see `methods`)")
    t.add_argument("--data", help=DATA_HELP)
    t.add_argument("--out", required=True, help="the run folder (run.json, config.json, metrics.jsonl, checkpoints/)")
    t.add_argument("--backbone", help="vit (default, sized for the data), vit-small, vit:dim=..., resnet18, cnn, ...")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="budget in optimiser steps (default 1000)")
    budget.add_argument("--epochs", type=float, help="budget in passes over the data")
    budget.add_argument("--minutes", type=float, help="budget in minutes of training")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--preset", help="start from a classroom preset (see the Train page)")
    t.add_argument("--config", help="a config.json to start from")
    t.add_argument("--size", type=int, help="training resolution in pixels (default: the data's own)")
    t.add_argument("--limit", type=int, help="use only this many training images (a class-balanced subset)")
    t.add_argument("--batch-size", type=int, help="images per step, over all processes under torchrun")
    t.add_argument("--lr", type=float, help="peak learning rate of AdamW")
    t.add_argument("--seed", type=int, help="seed of initialisation, data order and augmentations")
    t.add_argument("--dtype", choices=["auto", "bf16", "fp32", "fp64"],
                   help="auto: bfloat16 autocast where it is fast; fp64 (slow) to check that runs are exact")
    t.add_argument("--device", help=DEVICE_HELP)
    t.add_argument("--owner", default="", help="who the run belongs to (the app's classroom identity)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any config field (warmup=0.1, schedule=infinite) or method parameter (temperature=0.2)")
    t.add_argument("--queue", help=argparse.SUPPRESS)  # slot folder, used by the app's launcher
    t.add_argument("--max-concurrent", type=int, default=2, help=argparse.SUPPRESS)
    t.add_argument("--json", action="store_true", help=JSON_HELP)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint's frozen features beside the baselines")
    e.add_argument("probe", choices=["knn", "linear"], help="weighted kNN (k=20, 200) or a linear probe")
    e.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    e.add_argument("--data", help=DATA_HELP + " (its train and test splits)")
    e.add_argument("--train", help="training data, with --test")
    e.add_argument("--test", help="test data, with --train")
    e.add_argument("--limit", type=int, help="use only this many training images")
    _model_options(e)
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("features", help="write a dataset's features through a checkpoint to a feature file")
    f.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    f.add_argument("--data", required=True, help=DATA_HELP)
    f.add_argument("--out", required=True, help="the feature file (.safetensors)")
    f.add_argument("--split", default="all", choices=["train", "test", "all"],
                   help="which images: all (the default: every image of a folder), or a split")
    f.add_argument("--limit", type=int, help="use only this many images (a class-balanced subset)")
    f.add_argument("--layer", type=int, default=-1, help="block (ViT) or stage (CNN) to read; -1: the last")
    f.add_argument("--tokens", default="cls,patch", help="comma list of cls, mean, patch, keys (default cls,patch)")
    _model_options(f, dtype_default="fp32")
    f.set_defaults(func=cmd_features)

    i = sub.add_parser("import", help="convert a DINO or timm ViT checkpoint into an SSL Lab checkpoint")
    i.add_argument("--from", dest="kind", required=True, choices=["dino", "timm"], help="whose file it is")
    i.add_argument("path", help="the .pth or .safetensors file")
    i.add_argument("--out", required=True, help="the SSL Lab checkpoint to write (.safetensors)")
    i.add_argument("--json", action="store_true", help=JSON_HELP)
    i.set_defaults(func=cmd_import)

    x = sub.add_parser("export", help="keep only the evaluated backbone of a training checkpoint (to ship it)")
    x.add_argument("checkpoint", help=CHECKPOINT_HELP)
    x.add_argument("--out", required=True, help="the smaller checkpoint to write (.safetensors)")
    x.add_argument("--json", action="store_true", help=JSON_HELP)
    x.set_defaults(func=cmd_export)

    n = sub.add_parser("info", help="describe a checkpoint")
    n.add_argument("checkpoint", help=CHECKPOINT_HELP)
    n.add_argument("--json", action="store_true", help=JSON_HELP)
    n.set_defaults(func=cmd_info)

    m = sub.add_parser("methods", help="list what the trainer can train")
    m.add_argument("--json", action="store_true", help=JSON_HELP)
    m.set_defaults(func=cmd_methods)

    b = sub.add_parser("embed", help="2-D map (UMAP, PCA or t-SNE) of a dataset's embeddings, as a CSV")
    b.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    b.add_argument("--data", required=True, help=DATA_HELP)
    b.add_argument("--method", required=True, choices=["umap", "pca", "tsne"], help="the projection")
    b.add_argument("--out", required=True, help="CSV: index, name, x, y, label, label_name, cluster, knn_correct")
    b.add_argument("--split", default="all", choices=["train", "test", "all"],
                   help="which images: all (the default: every image of a folder), or a split")
    b.add_argument("--limit", type=int, help="use only this many images (a class-balanced subset)")
    b.add_argument("--embedding", default="cls", choices=["cls", "mean"],
                   help="cls: the CLS token (pooled map for CNNs); mean: the mean of the patch tokens")
    b.add_argument("--layer", type=int, default=-1, help="block (ViT) or stage (CNN) to read; -1: the last")
    b.add_argument("--clusters", type=int, default=10, help="k-means clusters in the CSV (0: none)")
    b.add_argument("--seed", type=int, default=0, help="seed of the projection and the clusters")
    _model_options(b)
    b.set_defaults(func=cmd_embed)

    g = sub.add_parser("segment", help="zero-shot mask of an image from clicked points (patch similarity)")
    g.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    g.add_argument("--image", required=True, help="any common image format; EXIF orientation is honoured")
    g.add_argument("--point", action="append", required=True, metavar="X,Y",
                   help="a positive click, in pixels of the original image (repeat for several)")
    g.add_argument("--negative", action="append", metavar="X,Y",
                   help="a negative click, in pixels of the original image (repeat for several): it removes the "
                        "pixels nearer to it than to every positive click, and never adds any")
    g.add_argument("--threshold", default="otsu", help="a cosine similarity (e.g. 0.5) or otsu (default)")
    g.add_argument("--out", required=True, help="the mask PNG (255 = foreground), the size of the original image")
    g.add_argument("--size", type=int, help="input resolution in pixels (default: the model's; positions interpolate)")
    g.add_argument("--layer", type=int, default=-1, help="ViT block whose features to compare (-1: the last)")
    g.add_argument("--feature", default="tokens", choices=["tokens", "keys"], help="output tokens or attention keys")
    _model_options(g)
    g.set_defaults(func=cmd_segment)

    se = sub.add_parser("segment-eval", help="one-click zero-shot segmentation Jaccard beside the baselines")
    se.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    se.add_argument("--images", required=True, help="a folder of images")
    se.add_argument("--masks", required=True, help="a folder of masks paired by file stem (non-zero = foreground)")
    se.add_argument("--size", type=int, help="input resolution in pixels (default: the model's)")
    se.add_argument("--threshold", type=float, default=0.5, help="the fixed cosine threshold (default 0.5)")
    se.add_argument("--layer", type=int, default=-1, help="ViT block whose features to compare (-1: the last)")
    se.add_argument("--feature", default="tokens", choices=["tokens", "keys"], help="output tokens or attention keys")
    se.add_argument("--limit", type=int, help="use only the first N pairs")
    se.add_argument("--negative", action="store_true",
                    help="add one negative click per image, at the most interior pixel of its background")
    se.add_argument("--per-image", action="store_true", help="include each image's figures in --json output")
    _model_options(se)
    se.set_defaults(func=cmd_segment_eval)

    pr = sub.add_parser("probe", help="shortcut bias (latent lab, images) and factor probes of a checkpoint")
    psub = pr.add_subparsers(dest="probe_command", required=True)
    for name, helptext in (("shortcut", "one setting of the latent shortcut study, over seeds"),
                           ("sweep", "the study's heatmap: availability ratios x shortcut predictivities")):
        q = psub.add_parser(name, help=helptext)
        q.add_argument("--model", default="mlp", choices=["linear", "mlp"], help="a linear model or an MLP")
        q.add_argument("--depth", type=int, default=1, help="hidden layers of the MLP (1 to 3)")
        q.add_argument("--activation", default="relu", choices=["relu", "tanh"], help="the MLP's nonlinearity")
        q.add_argument("--hidden", type=int, default=256, help="units per hidden layer")
        q.add_argument("--epochs", type=float, help="training epochs (default: to convergence, 60 linear, 20 MLP)")
        q.add_argument("--rho-core", type=float, default=0.9, help="predictivity of the core feature, in (0.5, 1]")
        q.add_argument("--rho-shortcut", type=float, default=0.9, help="predictivity of the shortcut, in (0.5, 1]")
        q.add_argument("--alpha-core", type=float, default=1.0, help="amplification of the core (> 0)")
        q.add_argument("--alpha-shortcut", type=float, default=1.0, help="amplification of the shortcut (> 0)")
        q.add_argument("--nest-core", type=int, default=0, help="random nonlinear layers before the core (0..4)")
        q.add_argument("--nest-shortcut", type=int, default=0, help="random nonlinear layers before the shortcut")
        q.add_argument("--dim", type=int, default=100, help="input dimension d")
        q.add_argument("--n-train", type=int, default=3200, help="training examples")
        q.add_argument("--seeds", type=int, default=3, help="seeds to average over")
        if name == "sweep":
            q.add_argument("--alpha-ratios", required=True, help="comma list of alpha_shortcut / alpha_core")
            q.add_argument("--rho-shortcuts", required=True, help="comma list of shortcut predictivities")
            q.add_argument("--out", required=True, help="the grid as CSV")
        q.add_argument("--json", action="store_true", help=JSON_HELP)
        q.set_defaults(func=cmd_probe_shortcut if name == "shortcut" else cmd_probe_sweep)
    q = psub.add_parser("images", help="shortcuts in pictures: colour, size or background against shape")
    q.add_argument("--shortcut", required=True, choices=["color", "size", "background"], help="what is tied to the label")
    q.add_argument("--rate", type=float, required=True, help="how often the shortcut agrees with the label (0 to 1)")
    q.add_argument("--model", default="cnn", choices=["cnn", "vit", "linear-probe"],
                   help="a supervised small CNN or ViT, or a linear probe on --checkpoint's frozen features")
    q.add_argument("--checkpoint", help=CHECKPOINT_HELP + " (for --model linear-probe)")
    q.add_argument("--n", type=int, default=3000, help="training scenes")
    q.add_argument("--steps", type=int, default=400, help="training steps of the CNN or ViT")
    q.add_argument("--seed", type=int, default=0, help="seed of the model's initialisation and data order")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_probe_images)
    q = psub.add_parser("factors", help="which data factors a checkpoint's frozen features encode")
    q.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    q.add_argument("--data", required=True, help=DATA_HELP + " (scenes: every factor; a class folder: its labels)")
    q.add_argument("--layer", type=int, default=-1, help="block (ViT) or stage (CNN) to read; -1: the last")
    q.add_argument("--limit", type=int, default=2000, help="training images for the probes")
    _model_options(q)
    q.set_defaults(func=cmd_probe_factors)

    sa = sub.add_parser("sae", help="sparse autoencoders: train, evaluate, show a feature, supervised dictionaries")
    ssub = sa.add_subparsers(dest="sae_command", required=True)
    q = ssub.add_parser("train", help="train an SAE on a checkpoint's features (or a feature file)")
    q.add_argument("--checkpoint", help=CHECKPOINT_HELP + " (with --data)")
    q.add_argument("--data", help=DATA_HELP)
    q.add_argument("--features", help="a feature file from `python -m ssl_core features`, instead of --checkpoint")
    q.add_argument("--layer", type=int, default=-1, help="block (ViT) or stage (CNN) to read; -1: the last")
    q.add_argument("--tokens", default="patch", choices=["patch", "cls"], help="every patch token, or the CLS tokens")
    q.add_argument("--kind", default="topk", choices=["topk", "batchtopk", "relu"], help="the SAE variant")
    width = q.add_mutually_exclusive_group()
    width.add_argument("--expansion", type=int, default=8, help="width as a multiple of the feature width (8)")
    width.add_argument("--width", type=int, help="the number of latents")
    q.add_argument("--k", type=int, default=32, help="active latents per token (topk, batchtopk)")
    q.add_argument("--l1", type=float, default=1e-3, help="L1 weight (relu)")
    budget = q.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="budget in optimiser steps")
    budget.add_argument("--epochs", type=float, help="budget in passes over the tokens (default 5)")
    budget.add_argument("--minutes", type=float, help="budget in minutes")
    q.add_argument("--batch-size", type=int, default=4096, help="tokens per step")
    q.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of Adam")
    q.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the token order")
    q.add_argument("--out", required=True, help="the SAE file to write (.safetensors)")
    _model_options(q)
    q.set_defaults(func=cmd_sae_train)
    q = ssub.add_parser("eval", help="explained variance, L0 and dead latents of an SAE on a feature file")
    q.add_argument("sae", help="an SAE file")
    q.add_argument("--features", required=True, help="a feature file from `python -m ssl_core features`")
    q.add_argument("--tokens", choices=["patch", "cls"], help="which tokens (default: the ones the SAE learnt)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_sae_eval)
    q = ssub.add_parser("top", help="pictures of a feature's top-activating images, its activation over each")
    q.add_argument("sae", help="an SAE file")
    q.add_argument("--feature", type=int, required=True, help="the feature (latent) number")
    q.add_argument("--checkpoint", required=True, help="the checkpoint the SAE's features come from")
    q.add_argument("--data", required=True, help=DATA_HELP)
    q.add_argument("--limit", type=int, help="use only this many images")
    q.add_argument("--k", type=int, default=12, help="how many images")
    q.add_argument("--out", required=True, help="a folder for the PNG files")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_sae_top)
    q = ssub.add_parser("supervised", help="the supervised dictionary of one factor (Makelov et al. 2024)")
    q.add_argument("--features", required=True, help="a feature file from `python -m ssl_core features`")
    q.add_argument("--factor", required=True, help="a scene factor (shape, color, size, ...) or label")
    q.add_argument("--tokens", choices=["patch", "cls"], help="which tokens make an image's row (default: cls)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_sae_supervised)
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
