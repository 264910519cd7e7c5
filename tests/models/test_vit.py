import math

import pytest
import torch
import torch.nn.functional as F

from ssl_core.models import build_backbone, check_arch, parse_backbone
from ssl_core.models import vit
from ssl_core.models.vit import VisionTransformer
from ssl_core.errors import UserError


def reference_vit(state: dict, x: torch.Tensor, num_heads: int, patch: int) -> torch.Tensor:
    """An independent forward pass written from the ViT paper with plain tensor ops on a timm-layout
    state dict (pre-norm blocks, GELU MLP, LayerNorm eps 1e-6): the CLS token after the final norm."""
    w = state
    B = x.shape[0]
    t = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([w["cls_token"].expand(B, -1, -1), t], 1) + w["pos_embed"]
    depth = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("blocks."))
    D = t.shape[-1]
    for i in range(depth):
        p = f"blocks.{i}."
        h = F.layer_norm(t, (D,), w[p + "norm1.weight"], w[p + "norm1.bias"], 1e-6)
        qkv = h @ w[p + "attn.qkv.weight"].T + w[p + "attn.qkv.bias"]
        q, k, v = qkv.chunk(3, dim=-1)
        split = lambda z: z.reshape(B, -1, num_heads, D // num_heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // num_heads), dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, -1, D)
        t = t + o @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"]
        h = F.layer_norm(t, (D,), w[p + "norm2.weight"], w[p + "norm2.bias"], 1e-6)
        h = F.gelu(h @ w[p + "mlp.fc1.weight"].T + w[p + "mlp.fc1.bias"])
        t = t + h @ w[p + "mlp.fc2.weight"].T + w[p + "mlp.fc2.bias"]
    return F.layer_norm(t, (D,), w["norm.weight"], w["norm.bias"], 1e-6)[:, 0]


def timm_layout_state(dim=64, depth=2, heads=4, patch=8, img=32, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.05  # noqa: E731
    n = (img // patch) ** 2
    state = {"cls_token": r(1, 1, dim), "pos_embed": r(1, n + 1, dim),
             "patch_embed.proj.weight": r(dim, 3, patch, patch), "patch_embed.proj.bias": r(dim),
             "norm.weight": 1 + r(dim), "norm.bias": r(dim)}
    for i in range(depth):
        p = f"blocks.{i}."
        state.update({p + "norm1.weight": 1 + r(dim), p + "norm1.bias": r(dim),
                      p + "attn.qkv.weight": r(3 * dim, dim), p + "attn.qkv.bias": r(3 * dim),
                      p + "attn.proj.weight": r(dim, dim), p + "attn.proj.bias": r(dim),
                      p + "norm2.weight": 1 + r(dim), p + "norm2.bias": r(dim),
                      p + "mlp.fc1.weight": r(4 * dim, dim), p + "mlp.fc1.bias": r(4 * dim),
                      p + "mlp.fc2.weight": r(dim, 4 * dim), p + "mlp.fc2.bias": r(dim)})
    return state


def test_timm_state_dict_loads_and_matches_reference_forward():
    state = timm_layout_state()
    model = VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4)
    model.load_state_dict(state)  # strict: every timm name exists here
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x), reference_vit(state, x, 4, 8), atol=1e-5, rtol=1e-4)


def test_explicit_attention_matches_fused_and_rows_sum_to_one(monkeypatch):
    model = build_backbone("vit:dim=48,depth=2,heads=3,patch=4", 16).eval()
    x = torch.randn(2, 3, 16, 16)
    item = model.forward_intermediates(x, attention=True, keys=True)[0]
    monkeypatch.setattr(vit, "FUSED_MIN_TOKENS_CPU", 0)  # the fused kernel for every sequence
    fused = model.forward_tokens(x)
    torch.testing.assert_close(item["tokens"], fused, atol=1e-5, rtol=1e-5)
    assert item["attn"].shape == (2, 3, 17, 17) and item["keys"].shape == (2, 4, 4, 48)
    torch.testing.assert_close(item["attn"].sum(-1), torch.ones(2, 3, 17))


def test_short_sequences_train_through_the_explicit_product_with_the_fused_kernels_gradients(monkeypatch):
    model = build_backbone("vit:dim=48,depth=2,heads=3,patch=4", 16)
    x = torch.randn(2, 3, 16, 16)
    grads = []
    for threshold in (10_000, 0):  # explicit (17 tokens are short), then fused
        monkeypatch.setattr(vit, "FUSED_MIN_TOKENS_CPU", threshold)
        model.zero_grad()
        model(x).square().sum().backward()
        grads.append(model.blocks[0].attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_forward_intermediates_shapes_registers_and_layers():
    model = build_backbone("vit:dim=48,depth=3,heads=3,patch=4,reg=2", 16).eval()
    x = torch.randn(2, 3, 16, 16)
    first, last = model.forward_intermediates(x, [0, -1])
    assert last["cls"].shape == (2, 48) and last["patch"].shape == (2, 4, 4, 48)
    assert first["tokens"].shape == (2, 1 + 2 + 16, 48)
    torch.testing.assert_close(last["cls"], model(x))
    # An intermediate block is returned without the final norm; the last one with it.
    tokens = model.prepare_tokens(x)
    tokens, _ = model.blocks[0](tokens)
    torch.testing.assert_close(first["tokens"], tokens)
    with pytest.raises(UserError, match="blocks 0..2"):
        model.forward_intermediates(x, [3])


def test_position_embeddings_interpolate_to_other_sizes():
    model = build_backbone("vit:dim=48,depth=1,heads=3,patch=4", 16).eval()
    assert model.forward_intermediates(torch.randn(1, 3, 32, 24))[0]["patch"].shape == (1, 8, 6, 48)


def test_keep_indices_drop_patches():
    model = build_backbone("vit:dim=48,depth=1,heads=3,patch=4", 16).eval()
    keep = torch.tensor([[0, 5, 9], [1, 2, 3]])
    assert model.forward_tokens(torch.randn(2, 3, 16, 16), keep=keep).shape == (2, 4, 48)


def test_resnet_and_convnet_stages():
    for stem, size, grid in (("cifar", 32, 4), ("imagenet", 64, 2)):
        model = build_backbone(f"resnet18-{stem}", size).eval()
        item = model.forward_intermediates(torch.randn(2, 3, size, size))[0]
        assert item["cls"].shape == (2, 512) and item["patch"].shape == (2, grid, grid, 512)
    assert "layer4.1.bn2.running_mean" in model.state_dict()  # torchvision names
    cnn = build_backbone("cnn:width=8", 32).eval()
    x = torch.randn(2, 3, 32, 32)
    s0, s3 = cnn.forward_intermediates(x, [0, -1])
    assert s0["patch"].shape == (2, 32, 32, 8) and s3["patch"].shape == (2, 4, 4, 64) and cnn.embed_dim == 64
    torch.testing.assert_close(cnn(x), s3["cls"])
    with pytest.raises(UserError, match="only in ViTs"):
        cnn.forward_intermediates(x, keys=True)


def test_mlp_and_linear_backbones_read_vectors():
    mlp = build_backbone(parse_backbone("mlp:depth=2,hidden=16,act=tanh", in_dim=10))
    x = torch.randn(4, 10)
    assert mlp(x).shape == (4, 16) and mlp.forward_intermediates(x, [0])[0]["cls"].shape == (4, 16)
    assert isinstance(mlp.layers[0][1], torch.nn.Tanh)
    linear = build_backbone(parse_backbone("linear", in_dim=10))
    torch.testing.assert_close(linear(x), x)
    with pytest.raises(UserError, match="reads input vectors"):
        parse_backbone("mlp", 32)
    with pytest.raises(UserError, match="reads images"):
        parse_backbone("vit", 32, in_dim=10)


@pytest.mark.parametrize("field, value", [("depth", 10_000), ("img_size", 10**6), ("patch_size", 0), ("num_heads", 0),
                                          ("embed_dim", -3), ("depth", "6"), ("mlp_ratio", float("nan")),
                                          ("depth", True)])
def test_absurd_architectures_are_refused_before_anything_is_built(field, value):
    arch = {**parse_backbone("vit", 32), field: value}
    with pytest.raises(UserError) as e:
        check_arch(arch)
    assert "\n" not in str(e.value) and field in str(e.value)
    with pytest.raises(UserError, match="no field"):
        check_arch({**parse_backbone("vit", 32), "evil": 1})


def test_backbone_names_and_errors():
    assert parse_backbone("vit", 32)["patch_size"] == 4
    assert parse_backbone("vit-small/16", 224)["embed_dim"] == 384
    assert parse_backbone("resnet18", 128)["stem"] == "imagenet"
    for bad, size in (("vgg", 32), ("vit-huge", 32), ("vit:dim=100,heads=3", 32), ("vit/5", 32),
                      ("vit:foo=1", 32)):
        with pytest.raises(UserError) as e:
            parse_backbone(bad, size)
        assert "\n" not in str(e.value)
