"""The shipped default checkpoint (assets/checkpoints/): small enough to ship, a photo-trained ViT that loads
on its own, and a model card whose figures are the checkpoint's own; the shipped dictionary of that model
(assets/dictionaries/), with its card."""

import hashlib
from pathlib import Path

import torch

from ssl_core.models.checkpoint import load_model, read_metadata
from ssl_core.sae.files import load_sae

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "assets" / "checkpoints" / "default.safetensors"
CARD = CKPT.with_suffix(".md")


def test_default_checkpoint_is_small_and_loads_as_a_photo_vit():
    assert CKPT.stat().st_size <= 15e6
    model, meta = load_model(CKPT)
    assert meta["arch"]["name"] == "vit" and meta["arch"]["img_size"] >= 128
    assert "imagenette" in meta["data"]["spec"]
    assert not [k for k in read_metadata(CKPT) if k in ("optimizer", "trainer")]  # exported: backbone only
    with torch.no_grad():
        out = model(torch.zeros(2, 3, meta["arch"]["img_size"], meta["arch"]["img_size"]))
    assert out.shape == (2, meta["arch"]["embed_dim"]) and torch.isfinite(out).all()


def test_model_card_gives_the_commands_and_the_checkpoints_own_knn_beside_its_baselines():
    card = CARD.read_text()
    meta = read_metadata(CKPT)
    for command in ("python -m ssl_core train", "python -m ssl_core export", "python -m ssl_core segment-eval"):
        assert command in card, command
    m = meta["metrics"]
    for key in ("knn_k200", "knn_pixels_k200", "knn_random_k200"):  # what training measured, as the card says
        assert f"{m[key]:.3f}" in card, key
    assert f"step {meta['step']}" in card or f"{meta['step']} steps" in card


DICTIONARY = ROOT / "assets" / "dictionaries" / "default-shapes.safetensors"


def test_the_shipped_dictionary_is_of_the_shipped_model_and_its_card_gives_its_figures():
    sae, meta = load_sae(DICTIONARY)
    assert DICTIONARY.stat().st_size <= 5e6
    source = meta["source"]
    assert source["sha1"] == hashlib.sha1(CKPT.read_bytes()).hexdigest()  # learnt on this very checkpoint
    assert meta["config"]["checkpoint"] == "assets/checkpoints/default.safetensors"  # found from the repository root
    assert (source["tokens"], source["data"], sae.d_in, sae.width, sae.k) == ("patch", "shapes", 192, 1536, 32)
    card = DICTIONARY.with_suffix(".md").read_text()
    assert "python -m ssl_core sae train" in card
    m = meta["metrics"]
    for key in ("explained_variance", "pca_explained_variance"):
        assert f"{m[key]:.3f}" in card, key
