"""DINO's schedules of the official code as options: the teacher temperature's warm-up and the frozen last layer."""

import numpy as np
import pytest
import torch

from ssl_core.methods import build_method, dino
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT

SMALL = {"out_dim": 64, "n_local": 1}


def test_teacher_temperature_warms_up_as_the_official_schedule(shapes_batch, monkeypatch):
    # main_dino.py: np.linspace(warmup_teacher_temp, teacher_temp, warmup epochs), then teacher_temp; the paper's
    # ViT-S recipe is 0.04 to 0.07 over the first 30 of 300 epochs.
    epochs, warm = 300, 30
    reference = np.concatenate((np.linspace(0.04, 0.07, warm), np.ones(epochs - warm) * 0.07))
    m = build_method("dino", build_backbone(TINY_VIT, 32),
                     {**SMALL, "warmup_teacher_temp": 0.04, "teacher_temp": 0.07, "teacher_temp_warmup": warm / epochs})
    used = []
    real = dino.dino_loss
    monkeypatch.setattr(dino, "dino_loss", lambda s, t, c, ts, tt: used.append(tt) or real(s, t, c, ts, tt))
    for epoch in (0, 10, 29, 30, 200):
        m.after_step(epoch / epochs)
        out = m({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0))
        # Per step rather than per epoch: linear in progress, equal to the reference at each epoch's start
        # up to the linspace's (warm - 1) spacing.
        assert used[-1] == pytest.approx(0.04 + 0.03 * min(1.0, epoch / warm))
        assert used[-1] == pytest.approx(reference[epoch], abs=0.03 / (warm - 1) + 1e-9)
        assert out.logs["teacher_temp"] == used[-1]
    default = build_method("dino", build_backbone(TINY_VIT, 32), SMALL)
    assert default.current_teacher_temp() == 0.04  # the code's default: no warm-up


def test_last_layer_is_frozen_for_the_first_part_of_training(shapes_batch):
    torch.manual_seed(0)
    m = build_method("dino", build_backbone(TINY_VIT, 32), {**SMALL, "freeze_last_layer": 0.1})
    last = [p for p in m.head.last_layer.parameters() if p.requires_grad]
    assert last  # the direction v of the weight-normalised layer (its norm g is fixed at 1)

    def grads(progress):
        m.after_step(progress)
        m.zero_grad(set_to_none=True)
        m({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0)).loss.backward()
        return [p.grad for p in last], m.head.mlp[0].weight.grad

    frozen, mlp = grads(0.05)
    assert all(g is not None and not g.any() for g in frozen) and mlp.abs().sum() > 0
    free, _ = grads(0.1)
    assert all(g.abs().sum() > 0 for g in free)
    # AdamW moves no frozen weight: zero moments, and decay only rescales v, which the weight norm removes.
    m2 = build_method("dino", build_backbone(TINY_VIT, 32), {**SMALL, "freeze_last_layer": 1.0})
    opt = torch.optim.AdamW([p for p in m2.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.05)
    before = m2.head.last_layer.weight.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        m2({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0)).loss.backward()
        opt.step()
    torch.testing.assert_close(m2.head.last_layer.weight, before)


def test_progress_is_saved_for_an_exact_resume():
    m = build_method("dino", build_backbone(TINY_VIT, 32), {**SMALL, "teacher_temp": 0.07, "teacher_temp_warmup": 0.5})
    m.after_step(0.25)
    again = build_method("dino", build_backbone(TINY_VIT, 32), {**SMALL, "teacher_temp": 0.07, "teacher_temp_warmup": 0.5})
    again.load_state_dict(m.state_dict())
    assert again.current_teacher_temp() == pytest.approx(0.055)
