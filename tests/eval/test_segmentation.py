"""Jaccard, interior point, best threshold, overlap, and the segment / segment-eval commands."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.analysis.similarity import IMAGENET
from ssl_core.errors import UserError
from ssl_core.eval import segmentation as sg

ROOT = Path(__file__).resolve().parents[2]


def test_jaccard():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b[1:3] = True  # 8 pixels, 4 shared
    assert sg.jaccard(a, b) == pytest.approx(4 / 12)
    assert sg.jaccard(a, a) == 1.0 and sg.jaccard(a, ~a) == 0.0
    assert sg.jaccard(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    with pytest.raises(UserError, match="shapes differ"):
        sg.jaccard(a, b[:2])


def test_interior_point_is_the_max_of_the_distance_transform():
    m = np.zeros((20, 30), bool)
    m[2:9, 2:9] = True  # a 7x7 square: centre (5, 5)
    m[10:19, 5:28] = True  # a 9x23 bar: its interior is 5 px deep, deeper than the square's 4
    x, y = sg.interior_point(m)
    assert y == 14 and 9 <= x <= 23 and m[y, x]
    # touching the image border does not make a pixel interior: the border counts as outside
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True
    assert sg.interior_point(edge)[0] in (1, 2)
    # an L shape whose centroid is outside it: the click is still inside
    ell = np.zeros((20, 20), bool)
    ell[2:18, 2:6] = True
    ell[14:18, 2:18] = True
    x, y = sg.interior_point(ell)
    assert ell[y, x]
    with pytest.raises(UserError, match="mask is empty"):
        sg.interior_point(np.zeros((3, 3), bool))


def test_best_threshold_is_exact():
    rng = np.random.default_rng(0)
    score = rng.random((12, 12))
    gt = score + rng.normal(0, 0.2, score.shape) > 0.6
    best, t = sg.best_threshold(score, gt)
    assert sg.jaccard(score > t, gt) == pytest.approx(best)
    brute = max(sg.jaccard(score > v, gt) for v in np.r_[score.ravel(), -1])
    assert best == pytest.approx(brute)


def test_similarity_overlap():
    assert sg.similarity_overlap([0.9, 0.95], [0.1, 0.2]) == 0.0
    assert sg.similarity_overlap([0.1, 0.5, 0.9], [0.1, 0.5, 0.9]) == pytest.approx(1.0)


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


def test_pair_files_refusals(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(UserError, match="no image in"):
        sg.pair_files(tmp_path / "a", tmp_path / "b")
    with pytest.raises(UserError, match="is not a folder"):
        sg.pair_files(tmp_path / "nope", tmp_path / "b")


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
