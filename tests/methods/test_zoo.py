"""Every method of the zoo: registry entries, a few trainer steps on shapes, and loss going down."""

import inspect
import json

import pytest
import torch

from ssl_core.cli import main as cli_main
from ssl_core.data import ViewConfig
from ssl_core.errors import UserError
from ssl_core.methods import METHODS, build_method, method_params
from ssl_core.models import build_backbone
from ssl_core.train.config import TrainConfig
from ssl_core.train.trainer import train
from tests.methods.conftest import TINY_VIT

ZOO = ["mocov3", "byol", "barlowtwins", "mixbt", "vicreg", "ijepa", "rotnet", "sit", "mmc"]
SMALL = {"mmc": {"out_dim": 256}}  # keep the heads small in tests


def test_registry_lists_the_zoo_with_docs(capsys):
    for name in ZOO:
        cls = METHODS[name]
        assert cls.description and "\n" not in cls.description and cls.paper
        own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "backbone")]
        assert set(own) <= set(cls.param_docs), f"{name} lacks docs for {set(own) - set(cls.param_docs)}"
        assert all(doc for _, _, doc in method_params(name))
        views = cls.view_configs(32)
        assert views and all(isinstance(v, ViewConfig) for v in views.values())
    assert cli_main(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(ZOO) <= set(listed) and "bss" in listed["byol"]["params"]


@pytest.mark.parametrize("name", ZOO)
def test_trains_a_few_steps_on_shapes(name, tmp_path):
    cfg = TrainConfig(method=name, data="shapes:n=128", batch_size=32, steps=3, eval_every=0, knn_bank=64,
                      knn_test=32, backbone=TINY_VIT, log_every=1, ckpt_every=100, method_args=SMALL.get(name))
    result = train(cfg, tmp_path / name, log=lambda *a: None)
    assert result["state"] == "finished" and result["step"] == 3
    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert 0 <= result["metrics"]["knn_k200"] <= 1


def fit_fixed_batch(method, images, steps=12, lr=2e-3):
    """Train on one batch with the same augmentations every step; return the losses."""
    opt = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=lr, weight_decay=0)
    losses = []
    for i in range(steps):
        out = method({"images": images}, torch.Generator().manual_seed(0))
        loss, logs, emb = out.loss, out.logs, out.embedding
        assert emb.ndim == 2 and emb.shape[0] == len(images)
        assert all(isinstance(v, float) for v in logs.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.after_step(i / steps)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", ZOO + ["simclr"])
def test_loss_goes_down_on_a_fixed_batch(name, shapes_batch):
    torch.manual_seed(0)
    method = build_method(name, build_backbone(TINY_VIT, 32), SMALL.get(name))
    losses = fit_fixed_batch(method, shapes_batch)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses


@pytest.mark.parametrize("name,args", [
    ("byol", {"predictor": False, "ema": False}),
    ("simclr", {"negatives": 1}),
    ("simclr", {"negatives": 0}),
    ("vicreg", {"var_weight": 0.0}),
    ("byol", {"bss": True}),
    ("dino", {"bss": True, "out_dim": 64, "n_local": 1}),
])
def test_collapse_switches_and_bss_train(name, args, shapes_batch):
    torch.manual_seed(0)
    method = build_method(name, build_backbone(TINY_VIT, 32), args)
    assert method.bss == args.get("bss", False)
    losses = fit_fixed_batch(method, shapes_batch, steps=2)
    assert all(torch.isfinite(torch.tensor(losses)))


def test_non_vit_methods_take_a_resnet(shapes_batch):
    torch.manual_seed(0)
    for name in ("mocov3", "barlowtwins", "rotnet"):
        method = build_method(name, build_backbone("resnet18", 32))
        out = method({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0))
        assert torch.isfinite(out.loss) and out.embedding.shape[0] == 4


CONVNET_METHODS = [name for name, m in METHODS.items() if m.kind == "ssl" and not m.needs_vit]


@pytest.mark.parametrize("name", CONVNET_METHODS)
def test_view_scale_shrinks_every_view_the_backbone_sees(name, shapes_batch):
    """Every method a ConvNet can train feeds its backbone views at view_scale of their usual side (local crops
    in proportion), while the backbone's input size, which evaluation and checkpoints read, is unchanged."""
    args = {**SMALL.get(name, {}), **({"out_dim": 64, "n_local": 2} if name == "dino" else {})}
    seen = {}
    for scale in (1.0, 0.75):
        torch.manual_seed(0)
        method = build_method(name, build_backbone("cnn", 32), {**args, "view_scale": scale})
        seen[scale] = []
        method.backbone.register_forward_pre_hook(lambda m, inputs, s=scale: seen[s].append(inputs[0].shape[-1]))
        out = method({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0))
        assert torch.isfinite(out.loss) and method.backbone.img_size == 32
    assert max(seen[1.0]) == 32 and seen[0.75] == [round(s * 0.75) for s in seen[1.0]], seen


def test_view_scale_drops_the_blur_where_the_method_would_not_blur_views_that_small():
    method = build_method("simclr", build_backbone("cnn", 128), {"view_scale": 0.5})
    view = method.views["view 1"]
    assert view.blur_p > 0 and (method.sized(view).size, method.sized(view).blur_p) == (64, 0.0)
    method = build_method("simclr", build_backbone("cnn", 128), {"view_scale": 0.8})
    assert (method.sized(view).size, method.sized(view).blur_p) == (102, view.blur_p)


@pytest.mark.parametrize("backbone,value,message", [
    (TINY_VIT, 0.5, "needs a ConvNet"), ("cnn", 0, r"in \(0, 1\]"), ("cnn", 1.5, r"in \(0, 1\]"),
    ("cnn", "half", "must be a number"), ("cnn", True, "must be a number"), ("cnn", float("nan"), "finite"),
])
def test_view_scale_is_refused_in_one_line_where_it_cannot_work(backbone, value, message):
    with pytest.raises(UserError, match=message):
        build_method("simclr", build_backbone(backbone, 32), {"view_scale": value})


def test_collapse_presets_build():
    from ssl_core.train.presets import PRESETS

    for name in ("byol-collapse", "simclr-collapse", "vicreg-collapse"):
        cfg = PRESETS[name]["config"].validate()
        method = build_method(cfg.method, build_backbone(TINY_VIT, 32), cfg.method_args)
        assert PRESETS[name]["description"] and method.name == cfg.method


@pytest.mark.parametrize("name, width", [("simclr", "proj_dim"), ("mocov3", "proj_dim"), ("byol", "proj_dim"),
                                         ("barlowtwins", "proj_dim"), ("mixbt", "proj_dim"), ("vicreg", "proj_dim"),
                                         ("dino", "out_dim"), ("sit", "proj_dim"), ("mmc", None)])
def test_every_method_reports_the_output_its_loss_constrains(name, width, shapes_batch):
    """One convention for the collapse indicators: the projection (or the prototype scores) the loss
    constrains, not the backbone's embedding."""
    torch.manual_seed(0)
    args = {**SMALL.get(name, {}), **({"out_dim": 64} if name == "dino" else {})}
    method = build_method(name, build_backbone(TINY_VIT, 32), args)
    out = method({"images": shapes_batch[:8]}, torch.Generator().manual_seed(0))
    expected = {p: d for p, d, _ in method_params(name)}[width] if width else 128  # MMC's contrastive projection is 128-d
    expected = args.get(width, expected)
    assert out.embedding.shape == (8, expected) and out.embedding.shape[1] != method.backbone.embed_dim
