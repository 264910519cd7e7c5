import pytest
import torch

from ssl_core.data import load_data
from ssl_core.errors import UserError
from ssl_core.methods import METHODS, build_method, method_params
from ssl_core.methods.base import ema_momentum, ema_update
from ssl_core.models import build_backbone

ARCH = "vit:dim=32,depth=1,heads=2,patch=8"


@pytest.fixture(scope="module")
def images():
    return load_data("shapes:n=64", "train").images[:32]


@pytest.mark.parametrize("name", ["simclr", "dino", "mae"])
def test_loss_goes_down_on_a_fixed_batch(images, name):
    torch.manual_seed(0)
    # DINO's loss first rises as the teacher sharpens; against a frozen teacher and centre it must fall.
    args = {"out_dim": 256, "n_local": 2, "momentum": 1.0, "center_momentum": 1.0} if name == "dino" else {}
    method = build_method(name, build_backbone(ARCH, 32), args)
    opt = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for step in range(12):
        out = method({"images": images}, torch.Generator().manual_seed(0))
        loss, logs, emb = out.loss, out.logs, out.embedding
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.after_step(step / 12)
        losses.append(loss.item())
        assert emb.ndim == 2 and emb.shape[0] == 32 and all(isinstance(v, float) for v in logs.values())
    assert losses[-1] < losses[0]


def test_every_method_documents_its_parameters():
    for name, cls in METHODS.items():
        assert cls.description and cls.paper
        for param, default, doc in method_params(name):
            assert doc, f"{name}.{param} has no explanation"
        assert cls.view_configs(32)


def test_ema_update_and_momentum_schedule():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    ema_update(a, b, 0.9)
    torch.testing.assert_close(a.weight, 0.9 * before + 0.1 * b.weight)
    assert ema_momentum(0.996, 0.0) == pytest.approx(0.996) and ema_momentum(0.996, 1.0) == pytest.approx(1.0)


def test_dino_teacher_is_evaluated_and_not_trained():
    method = build_method("dino", build_backbone(ARCH, 32), {"out_dim": 64})
    assert method.eval_backbone is method.teacher_backbone
    assert not any(p.requires_grad for p in method.teacher_backbone.parameters())
    assert all(k.startswith(method.backbone_prefix) or not k.startswith("teacher_backbone.")
               for k in method.state_dict())


def test_simclr_min_scale_sets_both_views_crops():
    method = build_method("simclr", build_backbone(ARCH, 32), {"min_scale": 0.5})
    assert [v.scale for v in method.views.values()] == [(0.5, 1.0), (0.5, 1.0)]
    assert build_method("simclr", build_backbone(ARCH, 32)).views["view 1"].scale == (0.08, 1.0)  # the paper's
    with pytest.raises(UserError, match=r"simclr: min_scale = 0 must be in \(0, 1\]"):
        build_method("simclr", build_backbone(ARCH, 32), {"min_scale": 0})
