"""A sparse autoencoder trained by the one trainer: a run of kind `sae` in its own process, stopped and resumed."""

import torch

from ssl_core import runs
from ssl_core.sae.files import load_sae
from ssl_core.train.config import TrainConfig
from tests.app.conftest import tiny_checkpoint
from tests.train.test_runs import wait_for


def config(ckpt, **kw) -> TrainConfig:
    base = dict(method="sae", data="shapes:n=200", checkpoint=str(ckpt), batch_size=256, lr=1e-3, eval_every=5,
                log_every=1, ckpt_every=5, method_args={"expansion": 2, "k": 4})
    return TrainConfig(**{**base, **kw})


def test_an_sae_run_is_launched_watched_stopped_and_resumed(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    run = tmp_path / "runs" / "dict"
    runs.launch(run, config(ckpt, minutes=10), owner="ana")
    # An evaluation after training steps (the one at step 0 comes before any step and its speed line)
    wait_for(lambda: any("explained_variance" in m and m["step"] > 0 for m in runs.read_metrics(run)),
             what="an evaluation line after training")
    assert runs.read_info(run)["kind"] == "sae" and runs.list_runs(tmp_path / "runs", kind="sae")[0].owner == "ana"
    row = next(m for m in runs.read_metrics(run) if "explained_variance" in m)
    assert {"l0", "dead_fraction", "pca_explained_variance"} <= set(row)
    assert any("tokens_per_s" in m for m in runs.read_metrics(run))
    runs.stop(run)
    wait_for(lambda: runs.read_status(run)["state"] == "stopped", what="stopped")
    sae, meta = load_sae(runs.latest_checkpoint(run))
    assert sae.width == 64 and meta["source"]["tokens"] == "patch"
    step = runs.read_status(run)["step"]
    runs.resume(run)
    wait_for(lambda: runs.read_status(run).get("step", 0) > step, what="progress after resume")
    runs.stop(run, wait=60, kill=True)


def test_resume_is_exact_in_memory(tmp_path):
    from ssl_core.train.trainer import train

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    a, b = tmp_path / "a", tmp_path / "b"
    common = dict(schedule="constant", warmup=0.0, dtype="fp32", eval_every=0, ckpt_every=3)
    train(config(ckpt, steps=6, **common), a, log=lambda *x: None)
    train(config(ckpt, steps=3, **common), b, log=lambda *x: None)
    train(config(ckpt, steps=6, **common), b, resume=True, log=lambda *x: None)
    wa, _ = load_sae(runs.latest_checkpoint(a))
    wb, _ = load_sae(runs.latest_checkpoint(b))
    for (k, x), (_, y) in zip(wa.state_dict().items(), wb.state_dict().items()):
        torch.testing.assert_close(x, y, msg=k)
