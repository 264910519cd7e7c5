"""The `sae` commands end to end in subprocesses, and their one-line refusals."""

import json
import os
import subprocess
import sys

import pytest
import torch

from ssl_core.features import Features, save_features
from ssl_core.sae.files import load_sae
from tests.app.conftest import tiny_checkpoint


def sae(*args):
    return subprocess.run([sys.executable, "-m", "ssl_core", "sae", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sae")
    ckpt = tiny_checkpoint(tmp / "m.safetensors")
    out = sae("train", "--checkpoint", ckpt, "--data", "shapes:n=200", "--expansion", 4, "--k", 8, "--steps", 30,
              "--batch-size", 512, "--out", tmp / "sae.safetensors", "--json")
    assert out.returncode == 0, out.stderr
    feats = tmp / "f.safetensors"
    done = subprocess.run([sys.executable, "-m", "ssl_core", "features", "--checkpoint", str(ckpt), "--data",
                           "shapes:n=200", "--out", str(feats)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return tmp, ckpt, json.loads(out.stdout)


def test_train_writes_one_file_that_says_what_it_learnt(trained):
    tmp, ckpt, result = trained
    model, meta = load_sae(tmp / "sae.safetensors")
    assert model.width == 4 * 32 and model.k == 8 and meta["kind"] == "sae" and meta["arch"]["variant"] == "topk"
    assert meta["source"]["tokens"] == "patch" and meta["source"]["checkpoint"] == "m.safetensors"
    assert len(meta["source"]["sha1"]) == 40 and meta["source"]["layer"] == -1
    assert {"explained_variance", "l0", "dead_fraction"} <= set(meta["metrics"]) and result["tokens_trained"] == 30 * 512


def test_eval_top_and_supervised(trained):
    tmp, ckpt, _ = trained
    r = json.loads(sae("eval", tmp / "sae.safetensors", "--features", tmp / "f.safetensors", "--json").stdout)
    assert 0 < r["explained_variance"] <= 1 and r["l0"] == pytest.approx(8.0) and 0 <= r["dead_fraction"] <= 1
    assert r["tokens"] == 240 * 16 and sum(r["log10_density_histogram"]["counts"]) <= 128
    out = sae("top", tmp / "sae.safetensors", "--feature", 0, "--checkpoint", ckpt, "--data", "shapes:n=200", "--out",
              tmp / "top", "--k", 4, "--json")
    if out.returncode == 0:  # feature 0 fired somewhere: four pictures (else its one-line refusal)
        assert len(list((tmp / "top").glob("feature00000_*.png"))) == len(json.loads(out.stdout)["images"]) <= 4
    else:
        assert "never fires" in out.stderr
    r = json.loads(sae("supervised", "--features", tmp / "f.safetensors", "--factor", "color", "--json").stdout)
    assert len(r["values"]) == 8 and 0 <= r["explained_variance"] <= 1 and 0 <= r["control_rate"] <= 1


def test_one_line_refusals(trained, tmp_path):
    tmp, ckpt, _ = trained
    other = tmp_path / "wide.safetensors"
    save_features(other, Features({"patch": torch.randn(3, 2, 2, 48)}, torch.zeros(3, dtype=torch.long), ["a"] * 3))
    empty = tmp_path / "empty.safetensors"
    save_features(empty, Features({"cls": torch.zeros(0, 32)}, torch.zeros(0, dtype=torch.long), []))
    cases = [(["eval", tmp / "sae.safetensors", "--features", other], "48-dimensional"),
             (["eval", tmp / "sae.safetensors", "--features", empty], "holds no features"),
             (["train", "--features", tmp / "f.safetensors", "--width", 16, "--k", 32, "--steps", 2, "--batch-size", 64, "--out",
               tmp_path / "x.safetensors"], "larger than the SAE's width"),
             (["train", "--features", empty, "--steps", 2, "--out", tmp_path / "y.safetensors"], "holds no features"),
             (["supervised", "--features", tmp / "f.safetensors", "--factor", "mood"], "no factor 'mood'"),
             (["eval", ckpt, "--features", tmp / "f.safetensors"], "not a sparse autoencoder")]
    for args, fragment in cases:
        out = sae(*args)
        assert out.returncode == 2 and out.stderr.startswith("error:") and fragment in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1
