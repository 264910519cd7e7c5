"""The feature-file layout and the feature cache: one layout, nothing computed twice, nothing stale."""

import pytest
import torch
from safetensors.torch import save_file

from ssl_core.data import load_data
from ssl_core.errors import UserError
from ssl_core.features import dataset_features, extract, load_features, save_features, store
from ssl_core.features.store import Features
from ssl_core.models import build_backbone, random_init
from ssl_core.models.checkpoint import save_backbone
from tests.data.conftest import write_image

NORM = {"mean": [0.5] * 3, "std": [0.25] * 3}


def checkpoint(tmp_path, seed=0, name="m.safetensors"):
    torch.manual_seed(seed)
    model = build_backbone("vit:dim=32,depth=1,heads=2,patch=8", 32)
    return model.eval(), save_backbone(tmp_path / name, model, {"normalization": NORM})


def test_roundtrip_keeps_labels_names_factors_and_source(tmp_path):
    f = Features({"cls": torch.randn(3, 4), "patch": torch.randn(3, 2, 2, 4)}, torch.tensor([0, 1, -1]), ["a", "b", "c"],
                 ["x", "y"], {"color": torch.tensor([2, 0, 1])}, {"color": ["red", "green", "blue"]}, {"data": "d"})
    g = load_features(save_features(tmp_path / "f.safetensors", f))
    assert set(g.tensors) == {"cls", "patch"} and g.names == f.names and g.class_names == ["x", "y"]
    torch.testing.assert_close(g["patch"], f["patch"])
    assert g.codes["color"].tolist() == [2, 0, 1] and g.vocab == f.vocab and g.source == {"data": "d"}
    torch.testing.assert_close(g.pooled("mean"), f["patch"].mean((1, 2)))
    with pytest.raises(UserError, match="not 'keys'"):
        g["keys"]


def test_bad_feature_files_are_one_line(tmp_path):
    with pytest.raises(UserError, match="no feature file"):
        load_features(tmp_path / "nope.safetensors")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="not a feature file"):
        load_features(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 10)
    with pytest.raises(UserError, match="not a readable feature file"):
        load_features(tmp_path / "junk.safetensors")
    f = Features({"cls": torch.randn(3, 4)}, torch.tensor([0, 1, 1]), ["a", "b"])  # one name short
    with pytest.raises(UserError, match="inconsistent"):
        load_features(save_features(tmp_path / "bad.safetensors", f))


def test_dataset_features_cached_by_content_and_by_token(tmp_path, monkeypatch):
    model, path = checkpoint(tmp_path)
    first = dataset_features(path, "shapes:n=64", limit=16, tokens=("cls", "patch"))
    assert first["cls"].shape == (16, 32) and first["patch"].shape == (16, 4, 4, 32)
    assert len(first.names) == 16 and set(first.codes) >= {"shape", "color", "position"}
    assert first.source["dtype"] == "fp32" and first.source["images"] == 16
    asked = []
    real = store.extract
    monkeypatch.setattr(store, "extract", lambda *a, **k: asked.append(k["tokens"]) or real(*a, **k))
    again = dataset_features(path, "shapes:n=64", limit=16, tokens=("patch", "mean"))
    assert asked == [["mean"]]  # the patch tokens came from the cache; only the new kind was extracted
    torch.testing.assert_close(again["patch"], first["patch"])
    _, path2 = checkpoint(tmp_path, seed=1)  # same path, new content: never served from the cache
    other = dataset_features(path2, "shapes:n=64", limit=16)
    assert not torch.allclose(other["cls"], first["cls"])


def test_random_init_twin_is_the_one_random_network(tmp_path):
    model, path = checkpoint(tmp_path)
    twin = dataset_features(path, "shapes:n=64", limit=8, random_init_twin=True)
    images = load_data("shapes:n=64", "train", 32, 8).images
    expected = extract(random_init(model.arch), images, NORM)["cls"]
    torch.testing.assert_close(twin["cls"], expected)
    assert twin.source["sha1"] == "random-init"


def test_a_folder_is_read_whole_by_default(tmp_path):
    for i in range(20):
        write_image(tmp_path / "pics" / f"{i:02d}.png", size=(40, 40), color=(10 * i, 30, 30))
    _, path = checkpoint(tmp_path)
    f = dataset_features(path, str(tmp_path / "pics"), split="all")
    assert len(f) == 20 and f.source["images"] == 20


def test_an_edited_folder_is_never_served_the_features_of_its_old_images(tmp_path):
    folder = tmp_path / "pics"
    for i in range(6):
        write_image(folder / f"{i}.png", size=(32, 32), color=(40 * i, 30, 30))
    _, path = checkpoint(tmp_path)
    before = [dataset_features(path, str(folder), split="all", random_init_twin=twin)["cls"] for twin in (False, True)]
    write_image(folder / "0.png", size=(32, 32), color=(250, 250, 250))  # same name, new pixels
    after = [dataset_features(path, str(folder), split="all", random_init_twin=twin)["cls"] for twin in (False, True)]
    for b, a in zip(before, after, strict=True):
        assert not torch.allclose(b[0], a[0]) and torch.allclose(b[1:], a[1:])
