"""The latent lab end to end: models trained by the trainer, decisions on the grid, bias over seeds."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.probe.latent import LatentSpec
from ssl_core.probe.shortcut import ModelSpec, cell, parse_list, sweep


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("model", [ModelSpec(model="linear"), ModelSpec(depth=1)])
def test_equal_predictivity_and_availability_give_no_bias(model):
    c = cell(LatentSpec(), model, seeds=3)
    assert abs(c["bias"]) < 0.05 and abs(c["reliance_bayes"]) < 1e-9
    assert c["accuracy"] > c["bayes_accuracy"] - 0.01  # trained to convergence
    assert len(c["regions"]["model"]) == 60 and {v for row in c["regions"]["bayes"] for v in row} == {-1, 1}


def test_swapping_the_two_latents_flips_the_sign():
    spec = LatentSpec(rho_core=0.9, rho_shortcut=0.7, alpha_shortcut=4.0)
    swapped = LatentSpec(rho_core=0.7, rho_shortcut=0.9, alpha_core=4.0, alpha_shortcut=1.0)
    a, b = cell(spec, ModelSpec(model="linear"), 2), cell(swapped, ModelSpec(model="linear"), 2)
    assert a["reliance_bayes"] == pytest.approx(-b["reliance_bayes"], abs=1e-9)
    assert a["reliance_model"] == pytest.approx(-b["reliance_model"], abs=0.1)


def test_a_converged_linear_model_is_nearly_unbiased_and_a_short_budget_is_not():
    spec = LatentSpec(rho_shortcut=0.7, alpha_shortcut=4.0)
    assert abs(cell(spec, ModelSpec(model="linear"), 2)["bias"]) < 0.1
    early = cell(spec, ModelSpec(model="linear", epochs=1, lr=1e-3), 2)
    assert early["bias"] > 0.3  # the more available shortcut is learnt first


def test_sweep_rows_and_options():
    rows = sweep([1.0, 4.0], [0.9], ModelSpec(model="linear", epochs=5), seeds=1)
    assert [(r["alpha_ratio"], r["rho_shortcut"]) for r in rows] == [(1.0, 0.9), (4.0, 0.9)]
    assert parse_list("0.5, 1,2", "x") == [0.5, 1.0, 2.0]
    for bad in (ModelSpec(model="cnn"), ModelSpec(depth=0), ModelSpec(depth=4), ModelSpec(activation="gelu")):
        with pytest.raises(UserError):
            bad.validate()
    with pytest.raises(UserError, match="comma list"):
        parse_list("1,x", "--alpha-ratios")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "ssl_core", "probe", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_cli_shortcut_sweep_and_one_line_errors(tmp_path):
    out = cli("shortcut", "--model", "linear", "--seeds", "2", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert {"bias", "bias_std", "reliance_model", "reliance_bayes", "accuracy", "bayes_accuracy"} <= set(r)
    grid = tmp_path / "grid.csv"
    out = cli("sweep", "--model", "linear", "--epochs", "3", "--seeds", "1", "--alpha-ratios", "1,2",
              "--rho-shortcuts", "0.7,0.9", "--out", grid, "--json")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(grid.open()))
    assert len(rows) == 4 and json.loads(out.stdout)["cells"] == 4 and "bias_std" in rows[0]
    for bad, fragment in ((["--rho-shortcut", "0.4"], "predictivity"), (["--alpha-shortcut", "-1"], "amplification"),
                          (["--depth", "0"], "1 to 3 hidden layers")):
        out = cli("shortcut", *bad)
        assert out.returncode == 2 and out.stderr.startswith("error:") and fragment in out.stderr
        assert out.stderr.count("\n") == 1
