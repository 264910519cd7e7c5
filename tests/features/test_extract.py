"""The batched forward pass: what it returns, and that exported features are exact (float32 by default)."""

import pytest
import torch
from safetensors.torch import save_file

from ssl_core.data import IMAGENET, load_data, normalize
from ssl_core.errors import UserError
from ssl_core.features import extract
from ssl_core.models import build_backbone
from ssl_core.models.checkpoint import load_model
from tests.models.test_vit import reference_vit, timm_layout_state

NORM = {"mean": [0.5] * 3, "std": [0.25] * 3}


def test_extract_matches_the_model_and_batches():
    torch.manual_seed(0)
    model = build_backbone("vit:dim=32,depth=2,heads=2,patch=8", 32).eval()
    images = load_data("shapes:n=64", "train").images[:10]
    calls = []
    out = extract(model, images, NORM, tokens=("cls", "mean", "patch", "keys"), batch_size=4, progress=calls.append)
    x = (images.float() / 255 - 0.5) / 0.25
    item = model.forward_intermediates(x, keys=True)[0]
    torch.testing.assert_close(out["cls"], model(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["mean"], item["patch"].mean((1, 2)), atol=1e-5, rtol=1e-5)
    assert out["patch"].shape == (10, 4, 4, 32) and out["keys"].shape == (10, 4, 4, 32)
    assert calls[-1] == 1.0 and len(calls) == 3
    layer0 = extract(model, images, NORM, layer=0)["cls"]
    assert not torch.allclose(layer0, out["cls"])
    with pytest.raises(UserError, match="unknown token kind"):
        extract(model, images, NORM, tokens=("pixels",))


def test_float32_export_of_a_timm_vit_matches_timms_forward(tmp_path):
    """An imported timm ViT's exported CLS features equal timm's own forward (written out independently in
    float64) within 1e-4 relative; bfloat16, kept for the app's speed, is about 1e-3 off."""
    state = timm_layout_state(dim=128, heads=2, seed=3)  # timm files do not say; heads are 64-d by convention
    state = {k: v * 4 if k.endswith("weight") and "norm" not in k else v for k, v in state.items()}  # real-scale
    save_file(state, str(tmp_path / "vit.safetensors"))
    model, meta = load_model(tmp_path / "vit.safetensors")
    images = load_data("shapes:n=64", "train").images[:16]
    x = normalize(images, IMAGENET["mean"], IMAGENET["std"])
    expected = reference_vit({k: v.double() for k, v in state.items()}, x.double(), 2, 8)
    exact = extract(model, images, IMAGENET)["cls"].double()
    rel = lambda a: ((a - expected).norm(dim=1) / expected.norm(dim=1)).max().item()  # noqa: E731
    assert rel(exact) < 1e-4
    assert rel(extract(model, images, IMAGENET, bf16=True)["cls"].double()) > 1e-3
