"""The real benchmarks in ../shared/data (skipped where that folder is absent, as on a user's machine)."""

import torch

from ssl_core.data import load_data
from tests.data.conftest import shared


def test_weizmann_horses_come_with_masks():
    root = shared("weizmann_horse")
    d = load_data(str(root), "test", size=64, limit=12)
    assert len(d) == 12 and d.skipped == 0 and not d.labelled
    assert d.images.shape == (12, 3, 64, 64) and d.masks.shape == (12, 64, 64)
    fg = d.masks.float().mean((1, 2))
    assert set(d.masks.unique().tolist()) == {0, 1} and (fg > 0.03).all() and (fg < 0.6).all()
    assert all(n.startswith("images/horse") for n in d.names)


def test_cifar10_with_limit_is_class_balanced():
    root = shared("cifar10")
    d = load_data(str(root), limit=200)
    assert len(d) == 200 and d.images.shape[1:] == (3, 32, 32)
    assert d.class_names[:3] == ["airplane", "automobile", "bird"]
    assert torch.equal(d.labels.bincount(), torch.full((10,), 20))
    assert all(n.startswith("train/") for n in d.names)
    test = load_data(str(root), "test", limit=50)
    assert all(n.startswith("test/") for n in test.names) and test.class_names == d.class_names
