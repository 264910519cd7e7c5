import argparse
import json
import pickle
import resource

import pytest
import torch
from safetensors.torch import save_file

from ssl_core.errors import UserError
from ssl_core.models import build_backbone
from ssl_core.models.checkpoint import (
    describe_checkpoint,
    import_checkpoint,
    load_model,
    read_checkpoint,
    save_backbone,
    save_checkpoint,
)
from ssl_core.models.foreign import translate

from tests.models.test_vit import timm_layout_state

ARCH = "vit:dim=64,depth=2,heads=1,patch=8"


def ours(tmp_path, name="m.safetensors"):
    model = build_backbone(ARCH, 32)
    path = save_backbone(tmp_path / name, model, {"method": "simclr", "step": 7, "metrics": {"knn_k200": 0.5},
                                                  "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}})
    return model, path


def test_roundtrip_rebuilds_model_from_file_alone(tmp_path):
    model, path = ours(tmp_path)
    loaded, meta = load_model(path)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert meta["step"] == 7 and meta["metrics"]["knn_k200"] == 0.5
    info = describe_checkpoint(path)
    assert info["params"] == sum(p.numel() for p in model.parameters()) and info["method"] == "simclr"
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed


def test_dino_full_training_checkpoint_imports_teacher(tmp_path):
    state = timm_layout_state(dim=64, heads=1)
    teacher = {f"backbone.{k}": v for k, v in state.items()}
    teacher["head.mlp.0.weight"] = torch.zeros(3, 64)
    student = {f"module.backbone.{k}": torch.zeros_like(v) for k, v in state.items()}
    torch.save({"teacher": teacher, "student": student, "epoch": 3}, tmp_path / "dino.pth")
    out = import_checkpoint(tmp_path / "dino.pth", "dino", tmp_path / "imported.safetensors")
    model, meta = load_model(out)
    assert meta["arch"]["embed_dim"] == 64 and meta["arch"]["num_heads"] == 1 and meta["arch"]["img_size"] == 32
    torch.testing.assert_close(model.state_dict()["cls_token"], state["cls_token"])
    assert meta["normalization"]["mean"] == [0.485, 0.456, 0.406]


def test_timm_safetensors_loads_directly(tmp_path):
    state = timm_layout_state(dim=128, heads=2)
    state["head.weight"] = torch.zeros(10, 128)
    save_file(state, str(tmp_path / "timm.safetensors"))
    model, meta = load_model(tmp_path / "timm.safetensors")
    assert meta["arch"]["num_heads"] == 2 and meta["arch"]["depth"] == 2


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"cls_token": Evil()}, f)
    with pytest.raises(UserError, match="unsafe pickle"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"\x00" * 64])
def test_garbage_files_one_line_errors(tmp_path, content):
    for suffix in (".pth", ".safetensors"):
        path = tmp_path / f"bad{suffix}"
        path.write_bytes(content)
        with pytest.raises(UserError) as e:
            load_model(path)
        assert "\n" not in str(e.value)


def test_mismatched_keys_reported_by_name(tmp_path):
    state = timm_layout_state(dim=64, heads=1)
    del state["blocks.1.mlp.fc2.bias"]
    state["blocks.0.ls1.gamma"] = torch.ones(64)
    save_file(state, str(tmp_path / "odd.safetensors"))
    with pytest.raises(UserError) as e:
        load_model(tmp_path / "odd.safetensors")
    msg = str(e.value)
    assert "blocks.1.mlp.fc2.bias" in msg and "blocks.0.ls1.gamma" in msg and "\n" not in msg


def test_missing_file_and_not_a_vit(tmp_path):
    with pytest.raises(UserError, match="no checkpoint file"):
        load_model(tmp_path / "nope.safetensors")
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(UserError, match="not a ViT"):
        load_model(tmp_path / "x.safetensors")
    _, path = ours(tmp_path)
    tensors, meta = read_checkpoint(path)
    assert meta["format"] == "ssl-lab/1"


@pytest.mark.parametrize("drop", ["arch", "normalization"])
def test_our_format_without_arch_or_normalization_is_one_line_error(tmp_path, drop):
    model, path = ours(tmp_path)
    tensors, meta = read_checkpoint(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", drop)}
    broken = save_checkpoint(tmp_path / "broken.safetensors", tensors, meta)
    with pytest.raises(UserError, match=f"no valid '{drop}'") as e:
        load_model(broken)
    assert "\n" not in str(e.value)


def test_random_bytes_are_not_called_an_unsafe_pickle(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UserError) as e:
        load_model(path)
    assert "unsafe" not in str(e.value) and "not a PyTorch checkpoint" in str(e.value)


def test_dino_training_checkpoint_with_argparse_args_opens(tmp_path):
    """DINO's own script saves `args` as an argparse.Namespace: that one class is allowed, nothing more."""
    state = timm_layout_state(dim=64, heads=1)
    teacher = {f"backbone.{k}": v for k, v in state.items()}
    torch.save({"teacher": teacher, "args": argparse.Namespace(arch="vit_small", lr=5e-4), "epoch": 3},
               tmp_path / "checkpoint.pth")
    model, meta = load_model(tmp_path / "checkpoint.pth")
    assert meta["arch"]["embed_dim"] == 64 and "opened directly" in describe_checkpoint(tmp_path / "checkpoint.pth")["format"]


def test_translate_is_pure_and_strips_wrappers():
    state = timm_layout_state(dim=64, heads=1)
    out, arch = translate({"model": {f"module.{k}": v for k, v in state.items()}, "head.weight": torch.zeros(1)})
    assert set(out) == set(state) and arch["depth"] == 2 and arch["img_size"] == 32


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("claim", [{"depth": 10_000}, {"img_size": 10**6}, {"embed_dim": 1 << 20},
                                   {"num_heads": 0}, {"patch_size": 0}, {"evil": 1}, {"name": "transformer-xxl"}])
def test_absurd_architecture_in_metadata_is_refused_cheaply(tmp_path, claim):
    """An 80 KB file claiming a huge network: refused by `info` and `load_model` before any allocation."""
    model, path = ours(tmp_path)
    tensors, meta = read_checkpoint(path)
    meta = {k: v for k, v in meta.items() if k != "format"}
    meta["arch"] = {**meta["arch"], **claim}
    hostile = save_checkpoint(tmp_path / "hostile.safetensors", tensors, meta)
    before = peak_rss_mb()
    for fn in (load_model, describe_checkpoint):
        with pytest.raises(UserError) as e:
            fn(hostile)
        assert "\n" not in str(e.value)
    assert peak_rss_mb() - before < 200


def test_claimed_architecture_must_match_the_stored_tensors(tmp_path):
    model, path = ours(tmp_path)
    tensors, meta = read_checkpoint(path)
    meta = {k: v for k, v in meta.items() if k != "format"}
    meta["arch"] = {**meta["arch"], "depth": 6}  # within bounds, but the file holds 2 blocks
    wrong = save_checkpoint(tmp_path / "wrong.safetensors", tensors, meta)
    with pytest.raises(UserError, match="does not fit the model.*missing: blocks.2"):
        load_model(wrong)


def test_deeply_nested_metadata_is_one_line(tmp_path):
    model, path = ours(tmp_path)
    tensors, meta = read_checkpoint(path)
    save_file(tensors, str(tmp_path / "nested.safetensors"),
              metadata={"format": json.dumps("ssl-lab/1"), "arch": "[" * 100_000 + "]" * 100_000,
                        "normalization": json.dumps(meta["normalization"])})
    with pytest.raises(UserError, match="no valid 'arch'"):
        load_model(tmp_path / "nested.safetensors")
