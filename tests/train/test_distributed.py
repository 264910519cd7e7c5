"""torchrun: two processes with global batch B train exactly what one process trains with batch B.

Real `torchrun` subprocesses on the CPU (gloo). Every rank trains its slice of the global batch and draws
the global batch's augmentations (`ssl_core.distributed`); embeddings are gathered where a loss needs the
whole batch, DINO all-reduces its centre, and the heads' BatchNorm is synchronised.

The strict comparison runs in float64. In float32 the two runs agree on every step's loss but not on
every weight: parameters the loss does not depend on (a LayerNorm bias before a BatchNorm, the key bias
before a softmax) receive pure rounding noise as gradient, which AdamW scales up to learning-rate-sized
steps, differently in each run; with an EMA teacher (BYOL) that noise even reaches the loss. float64
makes the noise vanish, so the check can be exact. DINO, whose loss depends on all its parameters,
is also checked in float32.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

TINY = ["--data", "shapes:n=96", "--backbone", "vit:dim=32,depth=1,heads=2,patch=8", "--batch-size", "16",
        "--steps", "10", "--set", "eval_every=0", "--set", "knn_bank=16", "--set", "knn_test=16",
        "--set", "log_every=1"]
ARGS = {"simclr": [], "byol": [], "vicreg": [], "dino": ["--set", "out_dim=64", "--set", "n_local=2"]}


def train(out, method: str, dtype: str, processes: int):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] \
        if processes > 1 else [sys.executable]
    cmd = [*launcher, "-m", "ssl_core", "train", "--method", method, "--dtype", dtype, "--out", str(out), *TINY,
           *ARGS[method]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-3000:]  # stdout says how far it got
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    return losses, load_file(str(out / "checkpoints" / "step_0000010.safetensors"))


@pytest.mark.parametrize("method, dtype", [("simclr", "fp64"), ("byol", "fp64"), ("vicreg", "fp64"),
                                           ("dino", "fp64"), ("dino", "fp32")])
def test_two_processes_train_what_one_process_trains(tmp_path, method, dtype):
    one_loss, one = train(tmp_path / "one", method, dtype, 1)
    two_loss, two = train(tmp_path / "two", method, dtype, 2)
    assert len(one_loss) == len(two_loss) == 10  # only rank 0 writes metrics
    torch.testing.assert_close(torch.tensor(two_loss), torch.tensor(one_loss), rtol=1e-4, atol=0)
    weights = [k for k in one if k.startswith("model.") and one[k].is_floating_point()]
    assert set(one) == set(two)
    for k in weights:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-8 if dtype == "fp64" else 1e-6, msg=k)


def test_the_global_batch_must_split_over_the_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ssl_core",
           "train", "--method", "simclr", "--out", str(tmp_path / "r"), *TINY[:-2], "--batch-size", "15"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0 and "does not split over 2 processes" in proc.stderr
