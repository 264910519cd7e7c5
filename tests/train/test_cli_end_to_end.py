"""The engine end to end through its real CLI, in subprocesses: train, checkpoint, resume, evaluate,
extract features; and the one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ssl_core.data import load_data
from ssl_core.features import load_features
from ssl_core.models.checkpoint import read_metadata

TINY = ["--backbone", "vit:dim=32,depth=1,heads=2,patch=8", "--batch-size", "32", "--data", "shapes:n=256",
        "--set", "knn_bank=256", "--set", "knn_test=64", "--set", "log_every=2"]


def cli(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "ssl_core", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def test_train_resume_eval_features(tmp_path):
    run = tmp_path / "run"
    out = cli("train", "--method", "simclr", "--out", run, "--steps", 6, "--set", "ckpt_every=4",
              "--set", "eval_every=4", "--json", *TINY)
    result = json.loads(out.stdout)
    assert result["state"] == "finished" and result["step"] == 6
    for key in ("knn_k200", "knn_pixels_k200", "knn_random_k200"):
        assert 0 <= result["metrics"][key] <= 1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [2, 4, 6]
    assert all({"lr", "images_per_s", "emb_std", "eff_rank"} <= set(r) for r in rows if "loss" in r)
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    ckpts = sorted((run / "checkpoints").glob("*.safetensors"))
    assert [c.name for c in ckpts] == ["step_0000004.safetensors", "step_0000006.safetensors"]

    # Resume with a larger budget continues from step 6 and rewrites nothing before it.
    config = json.loads((run / "config.json").read_text())
    config["steps"] = 8
    (run / "config.json").write_text(json.dumps(config))
    out = cli("train", "--out", run, "--resume", "--json")
    assert json.loads(out.stdout)["step"] == 8
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 8

    ckpt = run / "checkpoints" / "step_0000008.safetensors"
    info = json.loads(cli("info", ckpt, "--json").stdout)
    assert info["method"] == "simclr" and info["step"] == 8 and info["arch"]["embed_dim"] == 32

    ev = json.loads(cli("eval", "knn", "--checkpoint", ckpt, "--data", "shapes:n=256", "--json").stdout)
    assert {"model", "pixels", "random_init"} <= set(ev) and 0 <= ev["model"]["k200"] <= 1

    small = tmp_path / "small.safetensors"
    cli("export", ckpt, "--out", small)
    assert small.stat().st_size < ckpt.stat().st_size / 2
    assert json.loads(cli("info", small, "--json").stdout)["params"] == info["params"]

    feats = tmp_path / "f.safetensors"
    out = json.loads(cli("features", "--checkpoint", ckpt, "--data", "shapes:n=256", "--limit", 20, "--out", feats,
                         "--json").stdout)
    assert out["images"] == 20 and out["dtype"] == "fp32"
    f = load_features(feats)
    assert f["cls"].shape == (20, 32) and f["patch"].shape == (20, 4, 4, 32) and len(f.names) == 20


def test_the_ten_minute_preset_trains_a_convnet_on_any_image_folder(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), np.uint8)).save(
                tmp_path / "photos" / cls / f"{i}.png")
    out = cli("train", "--preset", "ten-minutes", "--data", tmp_path / "photos", "--out", tmp_path / "run",
              "--steps", 2, "--batch-size", 8, "--set", "eval_every=0", "--json")
    result = json.loads(out.stdout)
    assert result["state"] == "finished" and result["step"] == 2
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["backbone"] == "cnn" and meta["method"] == "simclr" and meta["data"] == str(tmp_path / "photos")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["preset"] == "ten-minutes"
    # trained on views 0.625 of the images' side; the checkpoint's model reads the images at their own size
    assert meta["method_args"] == {"view_scale": 0.625}
    assert read_metadata(result["checkpoint"])["arch"]["img_size"] == load_data(str(tmp_path / "photos"), "train").size


def test_resume_is_exact(tmp_path):
    """6 steps straight end with the same weights as 3 steps, a stop, and a resume to 6 (a constant
    schedule, so the budget change does not alter the learning rate of the first 3 steps)."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--method", "simclr", "--set", "eval_every=0", "--set", "ckpt_every=3", "--dtype", "fp32",
              "--set", "schedule=constant", "--set", "warmup=0", *TINY]
    cli("train", "--out", a, "--steps", 6, *common)
    cli("train", "--out", b, "--steps", 3, *common)
    config = json.loads((b / "config.json").read_text())
    config["steps"] = 6
    (b / "config.json").write_text(json.dumps(config))
    cli("train", "--out", b, "--resume")
    wa = load_file(str(a / "checkpoints/step_0000006.safetensors"))
    wb = load_file(str(b / "checkpoints/step_0000006.safetensors"))
    assert set(wa) == set(wb)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5, msg=k)


def test_diverging_run_stops_with_one_line_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "div"
    # Two good steps and a checkpoint; then a temperature of 1e-37 overflows the logits on resume.
    cli("train", "--method", "simclr", "--out", run, "--steps", 2, "--set", "eval_every=0", "--dtype", "fp32", *TINY)
    config = json.loads((run / "config.json").read_text())
    config.update(steps=40, method_args={"temperature": 1e-37})
    (run / "config.json").write_text(json.dumps(config))
    proc = cli("train", "--out", run, "--resume", check=False)
    assert proc.returncode == 3, proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("error: training diverged at step 2") and "Traceback" not in proc.stderr
    assert "the last good checkpoint (step_0000002.safetensors) is kept" in err
    assert json.loads((run / "status.json").read_text())["state"] == "diverged"
    for ckpt in (run / "checkpoints").glob("*.safetensors"):
        assert all(t.isfinite().all() for t in load_file(str(ckpt)).values() if t.is_floating_point())


def test_divergence_before_any_checkpoint_says_so(tmp_path):
    proc = cli("train", "--method", "barlowtwins", "--out", tmp_path / "d", "--steps", 5, "--set", "lambd=1e36",
               "--set", "eval_every=0", "--dtype", "fp32", *TINY, check=False)
    assert proc.returncode == 3 and "no checkpoint was saved before it: start again" in proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["train", "--method", "nope", "--data", "shapes"], "unknown method"),
    (["train", "--method", "simclr", "--data", "/does/not/exist"], "/does/not/exist"),
    (["train", "--method", "simclr", "--data", "shapes", "--lr", "-1"], "learning rate"),
    (["train", "--method", "simclr", "--data", "shapes:n=20", "--batch-size", "64"], "larger than the dataset"),
    (["train", "--method", "simclr", "--data", "shapes", "--backbone", "vgg"], "unknown backbone"),
    (["train", "--method", "mae", "--data", "shapes", "--backbone", "resnet18"], "needs a ViT"),
    (["info", "README.md"], "README.md"),
    (["eval", "knn", "--checkpoint", "/nope.safetensors", "--data", "shapes"], "no checkpoint file"),
])
def test_bad_input_one_line_no_traceback(tmp_path, args, fragment):
    run = tmp_path / "r"
    proc = cli(*args, *(["--out", run] if args[0] == "train" else []), check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, proc.stderr
    assert err.startswith("error:") and fragment in err
    assert not list(run.glob("checkpoints/*"))


def test_methods_listing():
    table = json.loads(cli("methods", "--json").stdout)
    assert {"simclr", "dino", "mae"} <= set(table)
    assert all(m["description"] and m["paper"] for m in table.values())
