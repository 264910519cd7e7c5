"""EMA teachers: they keep their own BatchNorm statistics, and their momentum fits the run's budget."""

import math

import pytest
import torch

from ssl_core.methods import build_method
from ssl_core.methods.base import budget_momentum, ema_update, frozen_copy
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def test_a_teacher_keeps_its_own_batchnorm_statistics():
    student = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    teacher = frozen_copy(student)
    g = torch.Generator().manual_seed(0)
    student(torch.randn(16, 3, generator=g) * 5 + 2)  # the student's statistics move away from the initial ones
    ema_update(teacher, student, 0.5)
    bn_t, bn_s = teacher[1], student[1]
    assert torch.equal(bn_t.running_mean, torch.zeros(4)) and torch.equal(bn_t.running_var, torch.ones(4))
    assert int(bn_t.num_batches_tracked) == 0 and not torch.equal(bn_s.running_mean, bn_t.running_mean)
    # Its own forward pass updates them from its own activations (momentum 0.1, unbiased variance).
    x = torch.randn(16, 3, generator=g)
    with torch.no_grad():
        h = teacher[0](x)
        teacher(x)
    torch.testing.assert_close(bn_t.running_mean, 0.1 * h.mean(0))
    torch.testing.assert_close(bn_t.running_var, 0.9 + 0.1 * h.var(0))
    assert int(bn_t.num_batches_tracked) == 1


def test_budget_momentum():
    assert budget_momentum(0.996, None) == 0.996 and budget_momentum(0.996, 125_000) == 0.996  # DINO's budget
    assert budget_momentum(1.0, 300) == 1.0  # a frozen teacher stays frozen
    assert math.isclose(budget_momentum(0.996, 300), 1 - 2 * math.log(100) / 299)
    assert budget_momentum(0.996, 5) == 0.0


def teacher_left(method, teacher, student, steps: int) -> float:
    """The share of its initial weights a teacher keeps after `steps` updates towards a fixed student."""
    with torch.no_grad():
        for p in teacher.parameters():
            p.fill_(1.0)
        for p in student.parameters():
            p.zero_()
    for step in range(1, steps + 1):
        method.after_step(step / steps)  # as the trainer: progress after the step
    return float(next(teacher.parameters()).flatten()[0])


@pytest.mark.parametrize("name", ["dino", "ijepa", "mmc", "byol", "mocov3", "sit"])
def test_a_300_step_teacher_forgets_its_random_initialisation(name):
    args = {"out_dim": 64} if name in ("dino", "mmc") else {}
    method = build_method(name, build_backbone(TINY_VIT, 32), args)
    teacher = {"dino": "teacher_backbone", "ijepa": "target_encoder", "mmc": "teacher_backbone",
               "byol": "target_backbone", "mocov3": "momentum_backbone", "sit": "teacher_backbone"}[name]
    method.set_budget(300)  # the trainer calls this once, with its total steps
    assert teacher_left(method, getattr(method, teacher), method.backbone, 300) <= 0.01
    # Without a budget (minutes), the paper's base: after 300 steps 0.996 (DINO, I-JEPA, MMC) keeps 55% of the
    # random teacher, 0.99 (BYOL, MoCo v3, SiT) 22%.
    method.set_budget(None)
    left = teacher_left(method, getattr(method, teacher), method.backbone, 300)
    assert 0.5 < left < 0.6 if name in ("dino", "ijepa", "mmc") else 0.2 < left < 0.25
