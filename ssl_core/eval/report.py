"""Evaluate a checkpoint's frozen features on a dataset, always beside the two honest baselines:
raw pixels, and a randomly initialised network of the same architecture."""

import torch

from ssl_core.analysis.features import extract
from ssl_core.data import load_data
from ssl_core.devices import pick_device, use_bf16
from ssl_core.errors import UserError
from ssl_core.eval.baselines import pixel_features
from ssl_core.eval.knn import knn_accuracy
from ssl_core.eval.linear import linear_probe
from ssl_core.models import build_backbone
from ssl_core.models.checkpoint import load_model


def _splits(data: str | None, train: str | None, test: str | None, size: int, limit: int | None):
    if train and test:
        tr, te = load_data(train, "train", size, limit), load_data(test, "test", size)
    elif data:
        tr, te = load_data(data, "train", size, limit), load_data(data, "test", size)
    else:
        raise UserError("give --data DATA, or both --train DATA and --test DATA")
    if not (tr.labelled and te.labelled):
        raise UserError("evaluation needs labels: give a built-in labelled dataset or a folder of class subfolders")
    return tr, te


def evaluate(checkpoint, data=None, train=None, test=None, probe: str = "knn", limit: int | None = None,
             device: str = "auto", seed: int = 0) -> dict:
    """{"model", "pixels", "random_init"} scores of a kNN (k=20, 200) or linear probe, with the split sizes."""
    dev = pick_device(device)
    model, meta = load_model(checkpoint, dev)
    bf16 = use_bf16("auto", dev)
    tr, te = _splits(data, train, test, meta["arch"]["img_size"], limit)
    torch.manual_seed(seed)
    random_net = build_backbone(meta["arch"]).to(dev).eval()
    norm = meta["normalization"]

    def score(f_train, f_test):
        if probe == "knn":
            acc = knn_accuracy(f_train, tr.labels, f_test, te.labels, (20, 200))
            return {"k20": acc[20], "k200": acc[200]}
        return linear_probe(f_train, tr.labels, f_test, te.labels)

    if probe not in ("knn", "linear"):
        raise UserError(f"unknown probe {probe!r}: use knn or linear")
    feats = {name: (extract(net, tr.images, norm, device=dev, bf16=bf16), extract(net, te.images, norm, device=dev,
                                                                                   bf16=bf16))
             for name, net in (("model", model), ("random_init", random_net))}
    feats["pixels"] = (pixel_features(tr.images), pixel_features(te.images))
    return {"probe": probe, "checkpoint": str(checkpoint), "n_train": len(tr), "n_test": len(te),
            **{name: score(*f) for name, f in feats.items()}}
