import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.eval import linear_probe
from ssl_core.eval.linear import WEIGHT_DECAYS


def blobs(n, d=16, classes=3, sep=6.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = sep * torch.randn(classes, d, generator=torch.Generator().manual_seed(100))
    y = torch.arange(classes).repeat(n // classes + 1)[:n]
    return means[y] + torch.randn(n, d, generator=g), y


def test_separable_blobs_are_separated():
    x, y = blobs(300)
    xt, yt = blobs(300, seed=1)
    out = linear_probe(x, y, xt, yt)
    assert out["accuracy"] >= 0.99
    assert out["weight_decay"] in WEIGHT_DECAYS


def test_shuffled_labels_are_near_chance():
    g = torch.Generator().manual_seed(0)
    x, xt = torch.randn(400, 32, generator=g), torch.randn(1000, 32, generator=g)
    y, yt = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (1000,), generator=g)
    assert abs(linear_probe(x, y, xt, yt)["accuracy"] - 0.25) < 0.06


def test_fixed_weight_decay_under_inference_mode():
    x, y = blobs(90)
    with torch.inference_mode():
        xi = x * 1  # an inference tensor, as features extracted in an eval hook would be
        out = linear_probe(xi, y, xi, y, weight_decay=1e-3, max_iter=50)
    assert out == {"accuracy": 1.0, "weight_decay": 1e-3}


def test_bad_input_raises_user_error():
    x, y = blobs(30)
    with pytest.raises(UserError, match="dimensions"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(UserError, match="weight_decay"):
        linear_probe(x, y, x, y, weight_decay=-1.0)
    with pytest.raises(UserError, match="weight_decay explicitly"):
        linear_probe(x[:5], y[:5], x, y)
