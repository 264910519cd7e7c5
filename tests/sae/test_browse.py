"""The browser's computations: per-image activations, top images, heatmaps, patches, tracking, steering."""

import torch

from ssl_core.features import Features
from ssl_core.sae.browse import apply, kept_use, object_tokens, steer
from ssl_core.sae.model import SparseAutoencoder


def planted(n=40, h=2, w=2, d=8):
    """Patch tokens in which direction e0 appears exactly on the images of colour value 1."""
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(n, h, w, d, generator=g)
    colour = torch.arange(n) % 2
    x[colour == 1, 0, 0, 0] += 3.0
    return Features({"patch": x}, colour.clone(), [f"i{k}" for k in range(n)], ["a", "b"], {"color": colour},
                    {"color": ["red", "blue"]})


def sae_reading_e0(d=8):
    sae = SparseAutoencoder(d, 4, "topk", k=1)
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.W_dec[0, 0] = 1.0
        sae.W_dec[1:, 1:] = torch.eye(d - 1)[:, :3]
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_enc.fill_(-0.5)
    return sae


def test_apply_finds_the_planted_latent_and_what_it_tracks():
    f = planted()
    d = apply(sae_reading_e0(), f, "patch")
    assert d.image_max.shape == (40, 4) and d.order("density")[0] == 0
    assert d.top_images(0, 5) and all(i % 2 == 1 for i in d.top_images(0, 5))
    heat = d.heatmap(1, 0)
    assert heat.shape == (2, 2) and heat[0, 0] > 0 and heat[1, 1] == 0
    assert d.at_patch(1, 0, 0)[0][0] == 0 and d.at_patch(1, 1, 1) == []
    best = d.tracks(dict(f.codes), f.vocab)[0]
    assert best["factor"] == "color" and best["value"] == "blue" and best["f1"] > 0.99
    counts, edges = d.histogram()
    assert counts.sum() >= 1 and len(edges) == len(counts) + 1


def test_steering_switches_the_latent_off():
    f = planted()
    sae = sae_reading_e0()
    tokens = f["patch"][1]
    off = steer(sae, tokens, 0, 0.0)
    assert off[0, 0, 0] < 0.6 and torch.allclose(off[1:], tokens[1:], atol=1e-5)
    assert torch.allclose(steer(sae, tokens, 0, 1.0), tokens, atol=1e-5)


def test_object_tokens_keep_the_patches_on_the_main_object():
    f = planted()
    masks = torch.zeros(40, 4, 4, dtype=torch.uint8)
    masks[:, :2, :2] = 1  # the main object covers the top-left patch
    tokens, codes, vocab = object_tokens(f, "patch", masks)
    assert len(tokens) == 40 and codes["color"].tolist() == f.codes["color"].tolist() and vocab["color"] == ["red", "blue"]


def test_kept_use_compares_original_and_reconstruction():
    f = planted()
    r = kept_use(sae_reading_e0(), f, f, "patch")
    assert set(r) == {"original", "reconstructed"} and r["original"]["knn"] > 0.9
