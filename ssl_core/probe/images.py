"""Shortcuts in pictures: when a scene's colour, size (the object's pixel footprint) or background predicts
its label as well as the object's shape does, which one does a model decide by?

The study (after Hermann et al., ICLR 2024, sec. on images): procedural scenes of one object, two classes
(circle, triangle), with the shortcut factor tied to the label at `rate` (`shapes:classes=circle+triangle,
correlate=F@R`).
A model is trained on them, supervised (a small CNN or ViT, by the one trainer), or a linear probe reads a
checkpoint's frozen features. It is then shown the conflict set: held-out scenes whose shortcut points to
the other class (`conflict=1`). How often its decision follows the shape, and how often the shortcut, is
set beside the same figure for the same model trained where the shortcut is uninformative (rate 0): the
rate a shape-only classifier gets.
"""

import torch

from ssl_core.data import load_data
from ssl_core.errors import UserError
from ssl_core.eval.linear import linear_probe
from ssl_core.features import dataset_features
from ssl_core.train.config import TrainConfig
from ssl_core.train.monitors import to_device
from ssl_core.train.trainer import Trainer

SHORTCUTS = ("color", "size", "background")
MODELS = ("cnn", "vit", "linear-probe")
BACKBONES = {"cnn": "cnn:width=16", "vit": "vit:dim=96,depth=4,heads=3,patch=4"}
GALLERY = 16
CLASSES = "circle+triangle"  # a small CNN learns these apart in minutes at 32 px (circle / square it does not)


def scenes(shortcut: str, rate: float, n: int, conflict: bool = False) -> str:
    """The data spec of the study's scenes (one object, two classes, the shortcut tied at `rate`)."""
    return f"shapes:n={n},n_objects=1,classes={CLASSES},correlate={shortcut}@{rate:g}" + (",conflict=1" if conflict else "")


def _check(shortcut: str, rate: float, model: str, checkpoint) -> None:
    if shortcut not in SHORTCUTS:
        raise UserError(f"unknown shortcut {shortcut!r}: use {', '.join(SHORTCUTS)}")
    if not 0 <= rate <= 1:
        raise UserError(f"the rate is a probability: 0 to 1 (got {rate:g})")
    if model not in MODELS:
        raise UserError(f"unknown model {model!r}: use {', '.join(MODELS)}")
    if model == "linear-probe" and not checkpoint:
        raise UserError("a linear probe reads a checkpoint's features: give --checkpoint CKPT")


def _decisions(model: str, train_spec: str, test_spec: str, checkpoint, steps: int, seed: int) -> torch.Tensor:
    """The conflict set's decisions of a model trained (or a probe fitted) on `train_spec`."""
    if model == "linear-probe":
        f_train = dataset_features(checkpoint, train_spec, "train", dtype="auto")
        f_test = dataset_features(checkpoint, test_spec, "test", dtype="auto")
        pool = f_train.source.get("pool", "cls")
        return linear_probe(f_train.pooled(pool), f_train.labels, f_test.pooled(pool), f_test.labels,
                            predictions=True)["predictions"]
    cfg = TrainConfig(method="supervised", data=train_spec, backbone=BACKBONES[model], batch_size=64, steps=steps,
                      lr=2e-3, warmup=0.05, eval_every=0, log_every=10**8, seed=seed)
    test = load_data(test_spec, "test")
    trainer = Trainer(cfg, None, test=test, log=lambda *a: None)
    trainer.run()
    return trainer.method.predict(to_device(test.batch(torch.arange(len(test))), trainer.device)).cpu()


def image_study(shortcut: str = "size", rate: float = 0.9, model: str = "cnn", checkpoint=None, n: int = 3000,
                steps: int = 400, seed: int = 0) -> dict:
    """How often the decisions on the conflict set follow the shape and the shortcut, beside a shape-only
    model (the same model trained at rate 0), and a gallery of the first conflict scenes with both decisions."""
    _check(shortcut, rate, model, checkpoint)
    conflict = scenes(shortcut, rate, n, conflict=True)
    truth = load_data(conflict, "test")
    labels = truth.labels
    out = {"shortcut": shortcut, "rate": rate, "model": model, "checkpoint": str(checkpoint) if checkpoint else None,
           "n_train": n, "n_conflict": len(truth), "conflict_spec": conflict}
    for name, r in (("trained", rate), ("shape_only", 0.0)):
        pred = _decisions(model, scenes(shortcut, r, n), conflict, checkpoint, steps, seed)
        out[name] = {"follows_shape": float((pred == labels).float().mean()),
                     "follows_shortcut": float((pred == (labels + 1) % 2).float().mean()),
                     "decisions": pred[:GALLERY].tolist()}
    out["gallery"] = {"labels": labels[:GALLERY].tolist(), "names": truth.names[:GALLERY],
                      "shortcut_values": [f[0][shortcut] for f in truth.factors[:GALLERY]]}
    out["class_names"] = truth.class_names
    return out
