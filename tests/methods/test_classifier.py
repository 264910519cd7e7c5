"""The supervised classifier is one more thing the one trainer trains: on images and on vectors."""

import torch

from ssl_core.data import TensorData
from ssl_core.train.config import TrainConfig
from ssl_core.train.trainer import train


def test_a_small_cnn_learns_digits_through_the_trainer(tmp_path):
    cfg = TrainConfig(method="supervised", data="digits", backbone="cnn:width=8", batch_size=64, steps=60, lr=3e-3,
                      eval_every=0, log_every=10)
    result = train(cfg, tmp_path / "run", log=lambda *a: None)
    m = result["metrics"]
    assert result["state"] == "finished" and m["test_acc"] > 0.8 > m["test_acc_majority"], m
    rows = [line for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if "train_acc" in line]
    assert len(rows) == 6


def test_an_mlp_learns_a_linear_rule_on_vectors_in_memory():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    data, test = TensorData({"inputs": x[:500], "labels": y[:500]}), TensorData({"inputs": x[500:], "labels": y[500:]})
    for backbone in ("linear", "mlp:depth=2,hidden=16,act=tanh"):
        cfg = TrainConfig(method="supervised", backbone=backbone, batch_size=100, steps=150, lr=1e-2, warmup=0,
                          eval_every=0, log_every=50, dtype="fp32")
        result = train(cfg, None, data=data, test=test, log=lambda *a: None)
        assert result["checkpoint"] is None and result["metrics"]["test_acc"] > 0.93, (backbone, result["metrics"])
