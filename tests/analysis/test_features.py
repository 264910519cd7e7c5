import torch

from ssl_core.analysis import features
from ssl_core.analysis.features import dataset_features, extract
from ssl_core.data import load_data
from ssl_core.models import build_backbone
from ssl_core.models.checkpoint import save_backbone

NORM = {"mean": [0.5] * 3, "std": [0.25] * 3}


def checkpoint(tmp_path, seed=0):
    torch.manual_seed(seed)
    model = build_backbone("vit:dim=32,depth=1,heads=2,patch=8", 32)
    path = save_backbone(tmp_path / "m.safetensors", model, {"normalization": NORM})
    return model.eval(), path


def test_extract_matches_model_and_batches(tmp_path):
    model, _ = checkpoint(tmp_path)
    images = load_data("shapes:n=64", "train").images[:10]
    calls = []
    cls, patches = extract(model, images, NORM, patches=True, batch_size=4, progress=calls.append)
    x = (images.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(cls, model(x), atol=1e-4, rtol=1e-4)
    assert patches.shape == (10, 4, 4, 32) and calls[-1] == 1.0 and len(calls) == 3


def test_dataset_features_cached_by_content(tmp_path, monkeypatch):
    model, path = checkpoint(tmp_path)
    first = dataset_features(path, "shapes:n=64", limit=16, patches=True)
    assert first["cls"].shape == (16, 32) and first["patches"].shape == (16, 4, 4, 32)
    assert len(first["names"]) == 16 and first["factors"] is not None
    monkeypatch.setattr(features, "extract", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-ran")))
    again = dataset_features(path, "shapes:n=64", limit=16, patches=True)
    torch.testing.assert_close(again["cls"], first["cls"])
    _, path2 = checkpoint(tmp_path, seed=1)  # same path, new content: must not be served from the cache
    monkeypatch.undo()
    other = dataset_features(path2, "shapes:n=64", limit=16, patches=True)
    assert not torch.allclose(other["cls"], first["cls"])
