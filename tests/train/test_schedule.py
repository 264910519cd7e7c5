import math

import pytest

from ssl_core.errors import UserError
from ssl_core.train.config import TrainConfig, field_docs
from ssl_core.train.schedule import ANNEAL_MIN, cosine, infinite, lr_factor, warmup_fraction


def test_cosine_warmup_peak_and_end():
    assert cosine(0.0, 0.1) == 0.0
    assert math.isclose(cosine(0.05, 0.1), 0.5)
    assert math.isclose(cosine(0.1, 0.1), 1.0)
    assert math.isclose(cosine(0.55, 0.1), 0.5)
    assert math.isclose(cosine(1.0, 0.1, min_lr=0.1), 0.1)


def inf_cos(n, n_w, n_c, n_a, total, eta_max, eta_const, eta_min):
    """Singh et al. 2025 (arXiv 2503.02844), the infinite schedule in steps: linear warm-up, cosine cool-down to
    eta_const, constant, then an exponential anneal from eta_const to eta_min over the last n_a steps."""
    if n < n_w:
        return eta_max * n / n_w
    if n < n_w + n_c:
        return eta_const + (eta_max - eta_const) / 2 * (1 + math.cos(math.pi * (n - n_w) / n_c))
    if n <= total - n_a:
        return eta_const
    return eta_const * (eta_min / eta_const) ** ((n - (total - n_a)) / n_a)


def test_infinite_schedule_matches_the_paper():
    f = lambda p: infinite(p, warmup=0.1, cooldown=0.1, constant=0.3, anneal=0.2, min_lr=0.003)  # noqa: E731
    assert math.isclose(f(0.1), 1.0)
    assert math.isclose(f(0.2), 0.3)
    assert math.isclose(f(0.5), 0.3) and math.isclose(f(0.8), 0.3)
    assert math.isclose(f(0.9), math.sqrt(0.3 * 0.003))  # exponential: the geometric mean halfway
    assert math.isclose(f(1.0), 0.003)
    for n in range(0, 1001, 7):
        assert math.isclose(f(n / 1000), inf_cos(n, 100, 100, 200, 1000, 1.0, 0.3, 0.003), rel_tol=1e-9), n
    assert math.isclose(infinite(0.99, 0.1, 0.1, 0.3, anneal=0.0), 0.3)
    cfg = TrainConfig(schedule="infinite", warmup=0.1)  # min_lr 0: an exponential cannot reach it
    assert math.isclose(lr_factor(1.0, cfg), ANNEAL_MIN)


def test_warmup_has_a_floor_in_steps():
    assert warmup_fraction(0.05, 250) == 50 / 250  # 12 steps would be too few
    assert warmup_fraction(0.05, 100) == 0.2  # at most a fifth of the run
    assert warmup_fraction(0.05, 10_000) == 0.05 and warmup_fraction(0.3, 250) == 0.3
    assert warmup_fraction(0.0, 250) == 0.0 and warmup_fraction(0.05, None) == 0.05
    cfg = TrainConfig(schedule="constant", warmup=0.05)
    assert math.isclose(lr_factor(25 / 250, cfg, total_steps=250), 0.5)  # halfway through 50 steps
    assert math.isclose(lr_factor(25 / 250, cfg), 1.0)  # without the budget in steps: 5%


def test_lr_factor_dispatch():
    assert lr_factor(0.5, TrainConfig(schedule="constant", warmup=0.1)) == 1.0
    assert lr_factor(0.5, TrainConfig(schedule="infinite")) == 0.3


def test_config_validation_one_line_errors():
    for bad in (dict(lr=-1), dict(batch_size=1), dict(schedule="step"), dict(steps=10, minutes=1),
                dict(steps=0), dict(dtype="fp8"), dict(warmup=1.5)):
        with pytest.raises(UserError) as e:
            TrainConfig(**bad).validate()
        assert "\n" not in str(e.value)
    assert TrainConfig().validate().steps == 1000


def test_config_json_roundtrip_and_docs():
    cfg = TrainConfig(method="dino", method_args={"out_dim": 256}, minutes=2.5)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(UserError):
        TrainConfig.from_dict({"nonsense": 1})
    docs = field_docs()
    assert set(docs) == set(cfg.__dataclass_fields__) and all(docs.values())
