"""The segment-eval loop with its baselines, and the `segment` / `segment-eval` commands."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.analysis import segmentation as sg
from ssl_core.data import IMAGENET

ROOT = Path(__file__).resolve().parents[2]


def _write_pairs(root: Path, n: int = 3):
    """Red discs on a grey-blue background, with their masks (one mask missing, one image mismatched)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = 60 + 8 * i, 80
        yy, xx = np.mgrid[:h, :w]
        disc = (yy - h / 2) ** 2 + (xx - 30 - 5 * i) ** 2 < 18 ** 2
        img = np.empty((h, w, 3), np.uint8)
        img[:] = (90, 110, 160)
        img[disc] = (220, 40, 30)
        img = (img + rng.integers(0, 20, img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"thing{i}.jpg")
        Image.fromarray((disc * 255).astype(np.uint8)).save(root / "masks" / f"thing{i}.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "images" / "lonely.png")
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from ssl_core.models import build_backbone
    from ssl_core.models.checkpoint import save_backbone

    torch.manual_seed(0)
    model = build_backbone("vit:dim=32,depth=2,heads=2,patch=8", 64)
    path = tmp_path_factory.mktemp("ck") / "m.safetensors"
    return save_backbone(path, model, {"normalization": IMAGENET})


def test_segment_eval_with_baselines(tmp_path, ckpt):
    from ssl_core.models.checkpoint import load_model

    root = _write_pairs(tmp_path)
    model, meta = load_model(ckpt)
    r = sg.segment_eval(model, meta, root / "images", root / "masks")
    assert r["n_images"] == 3 and r["unmatched"] == ["lonely"] and r["size"] == 64
    for name in ("model", "colour_position", "random_init"):
        s = r[name]
        assert 0 <= s["jaccard_otsu"] <= s["jaccard_best"] <= 1 and 0 <= s["jaccard_fixed"] <= s["jaccard_best"]
        assert 0 <= s["overlap"] <= 1
    # colour separates a red disc from a blue background almost perfectly
    assert r["colour_position"]["jaccard_otsu"] > 0.8
    assert 0 < r["all_foreground"]["jaccard"] < 0.5
    clicks = [p["click"] for p in r["per_image"]]
    assert all(isinstance(c, list) and len(c) == 2 for c in clicks)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ssl_core", *map(str, args)], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_segment_writes_a_mask_of_the_original_size(tmp_path, ckpt):
    root = _write_pairs(tmp_path)
    out = tmp_path / "mask.png"
    p = _cli("segment", "--checkpoint", ckpt, "--image", root / "images" / "thing1.jpg", "--point", "35,34",
             "--point", "30,30", "--negative", "75,3", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["rule"] == "nearest-prototype" and Image.open(out).size == (80, 68)
    assert set(np.unique(np.asarray(Image.open(out)))) <= {0, 255}
    p = _cli("segment", "--checkpoint", ckpt, "--image", root / "images" / "thing1.jpg", "--point", "35,34",
             "--threshold", "0.3", "--out", out, "--size", "96")
    assert p.returncode == 0 and "threshold 0.300" in p.stdout, p.stderr
    bad = _cli("segment", "--checkpoint", ckpt, "--image", root / "images" / "thing1.jpg", "--point", "500,3",
               "--out", out)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: point (500, 3) is outside")
    assert "Traceback" not in bad.stderr
    (tmp_path / "notes.txt").write_text("hello")
    bad = _cli("segment", "--checkpoint", ckpt, "--image", tmp_path / "notes.txt", "--point", "1,1", "--out", out)
    assert bad.returncode == 2 and "not an image I can read" in bad.stderr and len(bad.stderr.splitlines()) == 1
    Image.fromarray(np.zeros((6, 30, 3), np.uint8)).save(tmp_path / "thin.png")
    bad = _cli("segment", "--checkpoint", ckpt, "--image", tmp_path / "thin.png", "--point", "1,1", "--out", out)
    assert bad.returncode == 2 and "only 30x6 px" in bad.stderr


def test_cli_segment_eval_json(tmp_path, ckpt):
    root = _write_pairs(tmp_path)
    p = _cli("segment-eval", "--checkpoint", ckpt, "--images", root / "images", "--masks", root / "masks", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["n_images"] == 3 and {"model", "colour_position", "random_init", "all_foreground"} <= set(r)
    p = _cli("segment-eval", "--checkpoint", ckpt, "--images", root / "images", "--masks", root / "masks")
    assert "colour_position" in p.stdout and "random_init" in p.stdout and "all foreground" in p.stdout
