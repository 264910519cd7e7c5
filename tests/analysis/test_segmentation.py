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
    # negatives only remove pixels from the thresholded mask: the threshold (Otsu by default) is always used
    assert r["rule"].startswith("otsu") and isinstance(r["threshold"], float) and Image.open(out).size == (80, 68)
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


def test_segment_eval_with_a_negative_click_on_the_background(tmp_path, ckpt):
    from ssl_core.models.checkpoint import load_model

    root = _write_pairs(tmp_path)
    model, meta = load_model(ckpt)
    plain = sg.segment_eval(model, meta, root / "images", root / "masks")
    r = sg.segment_eval(model, meta, root / "images", root / "masks", negative=True)
    assert r["negative"] and "one positive and one negative click" in sg.format_segment_eval(r)
    for row in r["per_image"]:
        x, y = row["negative_click"]
        gt = np.asarray(Image.open(root / "masks" / row["image"].replace(".jpg", ".png"))) > 0
        assert not gt[y, x] and gt[row["click"][1], row["click"][0]]  # background, and the object
    for name in ("model", "colour_position", "random_init"):
        s = r[name]
        assert 0 <= s["jaccard_otsu"] <= s["jaccard_best"] <= 1 and 0 <= s["jaccard_fixed"] <= s["jaccard_best"]
    # on red discs a negative click on the blue background can only take background away
    assert r["colour_position"]["jaccard_otsu"] >= plain["colour_position"]["jaccard_otsu"] - 1e-9


def test_a_negative_click_on_the_background_never_lowers_the_horses_jaccard():
    """Issue 14 item 5, on real photos: the shipped model at 128 px, Otsu, one positive click at the most
    interior pixel of each horse and one negative at the most interior background pixel. The old
    nearest-prototype rule scored 0.410 on all 328 against 0.423 for the positive click alone; the rule
    now (threshold, then negatives only remove) scores 0.481."""
    from ssl_core.analysis import similarity as sim
    from ssl_core.data.images import load_image, read_mask
    from ssl_core.eval.segmentation import interior_point, jaccard
    from ssl_core.models.checkpoint import load_model
    from tests.data.conftest import shared

    horses = shared("weizmann_horse")
    model, meta = load_model(ROOT / "assets" / "checkpoints" / "default.safetensors")
    pos_only, with_neg = [], []
    for img_path, mask_path in sg.pair_by_stem(horses / "images", horses / "masks")[0][:40]:
        image = np.asarray(load_image(img_path)[0])
        gt = read_mask(mask_path, image.shape[1], image.shape[0])
        feats = sim.extract_patch_features(model, image, meta["normalization"], 128)
        pos_only.append(jaccard(sim.segment(feats, [interior_point(gt)]).mask, gt))
        with_neg.append(jaccard(sim.segment(feats, [interior_point(gt)], [interior_point(~gt)]).mask, gt))
    assert np.mean(with_neg) >= np.mean(pos_only) + 0.02, (np.mean(pos_only), np.mean(with_neg))
