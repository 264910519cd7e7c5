import math

import pytest

from ssl_core.errors import UserError
from ssl_core.train.config import TrainConfig, field_docs
from ssl_core.train.schedule import cosine, infinite, lr_factor


def test_cosine_warmup_peak_and_end():
    assert cosine(0.0, 0.1) == 0.0
    assert math.isclose(cosine(0.05, 0.1), 0.5)
    assert math.isclose(cosine(0.1, 0.1), 1.0)
    assert math.isclose(cosine(0.55, 0.1), 0.5)
    assert math.isclose(cosine(1.0, 0.1, min_lr=0.1), 0.1)


def test_infinite_schedule_phases():
    f = lambda p: infinite(p, warmup=0.1, cooldown=0.1, constant=0.3, anneal=0.2)  # noqa: E731
    assert math.isclose(f(0.1), 1.0)
    assert math.isclose(f(0.2), 0.3)
    assert math.isclose(f(0.5), 0.3) and math.isclose(f(0.8), 0.3)
    assert math.isclose(f(0.9), 0.15)
    assert math.isclose(f(1.0), 0.0)
    assert math.isclose(infinite(0.99, 0.1, 0.1, 0.3, anneal=0.0), 0.3)


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
