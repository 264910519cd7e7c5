"""Factor probes: which factors of the data a checkpoint's frozen features encode.

For each factor of the procedural scenes (shape, colour, texture, size, position, background, number of
objects), or the labels of a labelled folder, a linear probe (`ssl_core.eval.linear`) and a weighted kNN
(`ssl_core.eval.knn`, k = 20) are fitted on the training split's features and scored on the test split,
beside the same probes on raw pixels and on the random-init network of the same architecture, and the
rate of always answering the most common value. Features come from the feature store.
"""

import torch

from ssl_core.data import load_data
from ssl_core.errors import UserError
from ssl_core.eval.baselines import pixel_features
from ssl_core.eval.knn import knn_accuracy
from ssl_core.eval.linear import linear_probe
from ssl_core.features import dataset_features
from ssl_core.models.checkpoint import model_meta


def _targets(f) -> dict[str, torch.Tensor]:
    if f.codes:
        return dict(f.codes)
    if f.labelled:
        return {"label": f.labels}
    raise UserError("these images have no labels or factors to probe: use the scenes (shapes) or a folder of "
                    "class sub-folders")


def _scores(train: torch.Tensor, test: torch.Tensor, y_train: torch.Tensor, y_test: torch.Tensor) -> dict:
    return {"linear": linear_probe(train, y_train, test, y_test)["accuracy"],
            "knn": knn_accuracy(train, y_train, test, y_test, (20,))[20]}


def factor_probes(checkpoint, data: str, layer: int = -1, pool: str | None = None, limit: int | None = 2000,
                  dtype: str = "auto", progress=None) -> dict:
    """{"factors": [one row per factor: its values, chance, and linear / kNN accuracy of the model, raw pixels
    and the random-init twin], "n_train", "n_test", "layer", "pool", "checkpoint", "data"}."""
    pool = pool or model_meta(checkpoint).get("pool", "cls")

    def feats(split, twin):
        return dataset_features(checkpoint, data, split, limit if split == "train" else None, layer, (pool,), dtype,
                                random_init_twin=twin)

    model = feats("train", False), feats("test", False)
    twin = feats("train", True), feats("test", True)
    size = model[0].source["size"]
    pixels = [pixel_features(load_data(data, s, size, lim).images) for s, lim in (("train", limit), ("test", None))]
    targets = _targets(model[0]), _targets(model[1])
    rows = []
    for i, (name, y_train) in enumerate(targets[0].items()):
        y_test = targets[1][name]
        present = torch.unique(y_train)
        if len(present) < 2:
            continue  # a factor that does not vary in these images tells nothing
        chance = float((y_test == torch.bincount(y_train).argmax()).float().mean())
        values = model[0].vocab.get(name) or model[0].class_names
        rows.append({"factor": name, "values": len(present), "value_names": list(values), "chance": chance,
                     "model": _scores(model[0].pooled(pool), model[1].pooled(pool), y_train, y_test),
                     "pixels": _scores(*pixels, y_train, y_test),
                     "random_init": _scores(twin[0].pooled(pool), twin[1].pooled(pool), y_train, y_test)})
        if progress:
            progress(i + 1, len(targets[0]))
    return {"factors": rows, "n_train": len(model[0]), "n_test": len(model[1]), "layer": layer, "pool": pool,
            "checkpoint": str(checkpoint), "data": data, "dtype": model[0].source.get("dtype")}
