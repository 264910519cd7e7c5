"""Real-data check: the raw-pixel kNN baseline on a CIFAR-10 subset is well above chance."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.eval import knn_accuracy, pixel_features

CIFAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10"


def load(split: str, per_class: int):
    classes = sorted(p.name for p in (CIFAR / split).iterdir() if p.is_dir())
    images, labels = [], []
    for c, name in enumerate(classes):
        for path in sorted((CIFAR / split / name).glob("*.jpg"))[:per_class]:
            images.append(np.asarray(Image.open(path).convert("RGB")))
            labels.append(c)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2), torch.tensor(labels)


@pytest.mark.skipif(not (CIFAR / "train").is_dir() or not (CIFAR / "test").is_dir(),
                    reason=f"CIFAR-10 image folders not found at {CIFAR}")
def test_raw_pixel_knn_on_cifar10_subset_beats_chance():
    x, y = load("train", 100)
    xt, yt = load("test", 50)
    acc = knn_accuracy(pixel_features(x), y, pixel_features(xt), yt, ks=(200,), temperature=0.1)
    assert acc[200] > 0.2
