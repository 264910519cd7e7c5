"""Bad input on the command line: one `error:` line that says what was wrong and what to do (exit 2), never
a traceback or the catch-all line, and nothing left behind (issue 15's corpus); a symlink loop is no error."""

import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from ssl_core.cli import main
from ssl_core.models import build_backbone, parse_backbone
from ssl_core.models.checkpoint import save_backbone, save_checkpoint

TINY = "vit:dim=32,depth=1,heads=2,patch=8"
TRAIN = ["train", "--method", "simclr", "--data", "shapes:n=64", "--batch-size", "16", "--steps", "2"]


def timm_state(dim=64, depth=2, patch=8, grid=4) -> dict:
    """A timm ViT's state dict, by timm's names and shapes."""
    s = {"cls_token": torch.zeros(1, 1, dim), "pos_embed": torch.zeros(1, grid * grid + 1, dim),
         "patch_embed.proj.weight": torch.zeros(dim, 3, patch, patch), "patch_embed.proj.bias": torch.zeros(dim),
         "norm.weight": torch.ones(dim), "norm.bias": torch.zeros(dim)}
    shapes = {"norm1.weight": (dim,), "norm1.bias": (dim,), "attn.qkv.weight": (3 * dim, dim),
              "attn.qkv.bias": (3 * dim,), "attn.proj.weight": (dim, dim), "attn.proj.bias": (dim,),
              "norm2.weight": (dim,), "norm2.bias": (dim,), "mlp.fc1.weight": (4 * dim, dim),
              "mlp.fc1.bias": (4 * dim,), "mlp.fc2.weight": (dim, 4 * dim), "mlp.fc2.bias": (dim,)}
    for b in range(depth):
        s.update({f"blocks.{b}.{k}": torch.zeros(v) for k, v in shapes.items()})
    return s


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    loop = root / "loop" / "a"
    loop.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (32, 32), (60 * i, 0, 0)).save(loop / f"{i}.png")
    os.symlink(root / "loop", loop / "self")
    (root / "existing").mkdir()
    state = timm_state()
    torch.save({k: v for k, v in state.items() if k != "blocks.1.attn.proj.weight"}, root / "timm_missing.pth")
    torch.save({k: v for k, v in state.items() if not k.startswith("blocks.")}, root / "timm_noblocks.pth")
    model = build_backbone(parse_backbone(TINY, 32))
    save_backbone(root / "ok.safetensors", model, {})
    tensors = load_file(root / "ok.safetensors")
    for name, change in {"patch0": {"patch_size": 0}, "heads0": {"num_heads": 0}, "unknown": {"frobnicate": 3},
                         "deep": {"depth": 10_000}, "huge": {"img_size": 10 ** 6}}.items():
        save_checkpoint(root / f"{name}.safetensors", tensors, {"kind": "ssl", "arch": {**model.arch, **change}})
    save_file(tensors, root / "nested.safetensors", metadata={
        "format": json.dumps("ssl-lab/1"), "kind": json.dumps("ssl"), "arch": "[" * 100_000 + "]" * 100_000})
    return root


def cases(root):
    image = str(root / "loop" / "a" / "0.png")
    seg = ["segment", "--image", image, "--point", "3,3", "--out", str(root / "mask.png")]
    return {
        "--out is a folder": ["segment", "--checkpoint", str(root / "ok.safetensors"), "--image", image,
                              "--point", "3,3", "--out", str(root / "existing")],
        "timm key missing": ["info", str(root / "timm_missing.pth")],
        "timm without blocks": ["import", str(root / "timm_noblocks.pth"), "--from", "timm", "--out",
                                str(root / "imported.safetensors")],
        "patch size 0": [*seg, "--checkpoint", str(root / "patch0.safetensors")],
        "heads 0": ["info", str(root / "heads0.safetensors")],
        "unknown architecture key": ["info", str(root / "unknown.safetensors")],
        "depth 10,000": ["info", str(root / "deep.safetensors")],
        "image size 10^6": [*seg, "--checkpoint", str(root / "huge.safetensors")],
        "deeply nested metadata": ["info", str(root / "nested.safetensors")],
        "--set lr=nan": [*TRAIN, "--set", "lr=nan", "--out", str(root / "run")],
        "--lr 1e38": [*TRAIN, "--lr", "1e38", "--out", str(root / "run")],
        "non-numeric method parameter": [*TRAIN, "--set", "temperature=abc", "--out", str(root / "run")],
        "missing --config": ["train", "--config", str(root / "nope.json"), "--out", str(root / "run")],
        "segment --size 100000": [*seg, "--checkpoint", str(root / "ok.safetensors"), "--size", "100000"],
        "--minutes 1e9": ["train", "--method", "simclr", "--data", "shapes:n=64", "--minutes", "1e9",
                          "--out", str(root / "run")],
        "--set temperature=-1": [*TRAIN, "--set", "temperature=-1", "--out", str(root / "run")],
        "--set temperature=0": [*TRAIN, "--set", "temperature=0", "--out", str(root / "run")],
        "--set temperature=10^400": [*TRAIN, "--set", "temperature=1" + "0" * 400, "--out", str(root / "run")],
        "--set view_scale=2": [*TRAIN, "--set", "view_scale=2", "--out", str(root / "run")],
    }


CASES = list(cases(Path()))  # the names; each test fills in its paths


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_clear_line(files, case, capsys):
    rc = main(cases(files)[case])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0] and "SSL_LAB_DEBUG" not in err[0]
    assert not (files / "run").exists(), "a refused run leaves nothing behind"


def test_a_symlink_loop_in_a_data_folder_is_followed_once(files, capsys):
    from ssl_core.features import load_features

    out = files / "loop.pt"
    assert main(["features", "--checkpoint", str(files / "ok.safetensors"), "--data", str(files / "loop"),
                 "--split", "all", "--out", str(out)]) == 0, capsys.readouterr().err
    assert len(load_features(out).labels) == 4  # the four images, not a copy through every turn of the loop


def test_temperature_zero_is_not_called_a_divergence(files, capsys):
    main(cases(files)["--set temperature=0"])
    line = capsys.readouterr().err
    assert "positive" in line and "learning rate" not in line and "diverged" not in line.lower()
