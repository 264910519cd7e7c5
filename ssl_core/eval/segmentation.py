"""Zero-shot segmentation by one click, measured (DESIGN.md sections 3 and 5).

For each image with a ground-truth mask: click at the most interior pixel of the mask (the maximum of
its distance transform), take the cosine-similarity map of that patch to every patch, upsample it to
the image, threshold it, and score the mask by Jaccard (IoU) against the ground truth. Three threshold
rules: a fixed cosine, Otsu's threshold on the map, and the best possible threshold for that image (an
upper bound that tells how separable the map is). Discrimination: the distributions of patch-to-patch
similarity within the object and between object and background, and their overlap.

The same procedure runs, image by image, on two honest baselines: colour-and-position descriptors of
8x8 patches (mean RGB and centre, centred per image), and a randomly initialised network of the same
shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssl_core.analysis.similarity import (
    DEFAULT_THRESHOLD,
    PatchFeatures,
    check_image,
    decide,
    make_frame,
    otsu_threshold,
    similarity_map,
)
from ssl_core.errors import UserError

COLOUR_PATCH = 8
OVERLAP_BINS = 50


# ---- metrics ----------------------------------------------------------------------------------------

def jaccard(pred, gt) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise UserError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def interior_point(mask) -> tuple[int, int]:
    """(x, y) of the most interior pixel of a boolean mask: the maximum of its Euclidean distance
    transform, with the image border counting as outside. Ties go to the first in row-major order."""
    from scipy.ndimage import distance_transform_edt

    m = np.asarray(mask, bool)
    if not m.any():
        raise UserError("the mask is empty: there is no object to click on")
    dist = distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def best_threshold(score, gt) -> tuple[float, float]:
    """(best Jaccard, its threshold) over every threshold `score > t` of a map against a mask, exactly
    (the mask for each threshold is a set of top-scoring pixels: sort once, count with cumsums)."""
    s = np.asarray(score, np.float64).ravel()
    g = np.asarray(gt, bool).ravel()
    order = np.argsort(-s, kind="stable")
    s_sorted, g_sorted = s[order], g[order]
    # only cut between distinct values: k pixels kept, with s_sorted[k-1] > s_sorted[k]
    tp = np.cumsum(g_sorted)
    k = np.arange(1, s.size + 1)
    last = np.r_[s_sorted[1:] < s_sorted[:-1], True]
    iou = np.where(last, tp / (g.sum() + k - tp), -1.0)
    best_empty = 1.0 if g.sum() == 0 else 0.0
    i = int(np.argmax(iou))
    if iou[i] < best_empty:
        return best_empty, float(s_sorted[0])
    t = float(s_sorted[i + 1]) if i + 1 < s.size else float(s_sorted[i]) - 1.0
    return float(iou[i]), t


def similarity_overlap(intra, inter, bins: int = OVERLAP_BINS) -> float:
    """Overlap coefficient of two similarity distributions: sum over shared bins of min(p, q) (0: a
    threshold separates them perfectly; 1: identical)."""
    intra, inter = np.asarray(intra, np.float64).ravel(), np.asarray(inter, np.float64).ravel()
    if intra.size == 0 or inter.size == 0:
        return float("nan")
    lo = min(intra.min(), inter.min())
    hi = max(intra.max(), inter.max(), lo + 1e-9)
    p, _ = np.histogram(intra, bins=bins, range=(lo, hi))
    q, _ = np.histogram(inter, bins=bins, range=(lo, hi))
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def pair_similarities(feats: PatchFeatures, gt) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of patch pairs within the object and between object and background.
    A patch belongs to the object when at least half of it is covered by the mask."""
    frac = feats.frame.grid_fraction(gt)
    rows, cols = feats.frame.content_grid
    inside = np.zeros_like(frac, bool)
    inside[:rows, :cols] = True  # padding patches are neither object nor background
    obj, bg = (frac >= 0.5) & inside, (frac < 0.5) & inside
    u = feats.unit.reshape(-1, feats.unit.shape[-1])
    fo, fb = u[obj.ravel()], u[bg.ravel()]
    s_oo = fo @ fo.T
    intra = s_oo[np.triu_indices(len(fo), 1)]
    inter = (fo @ fb.T).ravel()
    return intra, inter


# ---- the baselines' features --------------------------------------------------------------------

def colour_features(image: np.ndarray, size: int, patch: int = COLOUR_PATCH) -> PatchFeatures:
    """Colour-and-position descriptors of `patch`-pixel patches of the image resized like the model's
    input, centred per image (so cosine similarity compares deviations from the image's average)."""
    from PIL import Image

    from ssl_core.eval.baselines import color_position_descriptors

    frame = make_frame(image.shape[1], image.shape[0], patch, size)
    img = Image.fromarray(image).resize((frame.rw, frame.rh), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None]
    d = color_position_descriptors(x, patch)[0]
    d = d - d.reshape(-1, d.shape[-1]).mean(0)
    return PatchFeatures(d.numpy(), frame, "colour-position")


def random_init_like(arch: dict, seed: int = 0):
    """A network of the same shape with fresh random weights (the other baseline)."""
    from ssl_core.models import build_backbone

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_backbone(arch).eval()


# ---- the loop -----------------------------------------------------------------------------------

@dataclass
class _Acc:
    fixed: list
    otsu: list
    best: list
    intra: list
    inter: list

    @classmethod
    def new(cls):
        return cls([], [], [], [], [])

    def add(self, feats: PatchFeatures, click, gt, threshold) -> dict:
        from ssl_core.analysis.similarity import prompt_vectors

        score = similarity_map(feats, prompt_vectors(feats, [click]))
        row = {"fixed": jaccard(decide(score, None, threshold)[0], gt),
               "otsu": jaccard(score > otsu_threshold(score), gt),
               "best": best_threshold(score, gt)[0]}
        self.fixed.append(row["fixed"])
        self.otsu.append(row["otsu"])
        self.best.append(row["best"])
        intra, inter = pair_similarities(feats, gt)
        self.intra.append(intra)
        self.inter.append(inter)
        return row

    def summary(self) -> dict:
        intra = np.concatenate(self.intra) if self.intra else np.zeros(0)
        inter = np.concatenate(self.inter) if self.inter else np.zeros(0)
        return {"jaccard_fixed": float(np.mean(self.fixed)), "jaccard_otsu": float(np.mean(self.otsu)),
                "jaccard_best": float(np.mean(self.best)),
                "intra_mean": float(intra.mean()) if intra.size else float("nan"),
                "inter_mean": float(inter.mean()) if inter.size else float("nan"),
                "overlap": similarity_overlap(intra, inter)}


def pair_files(images_dir, masks_dir) -> tuple[list[tuple[Path, Path]], list[str]]:
    """[(image, mask)] paired by file stem, and the stems of images without a mask."""
    from ssl_core.data.images import EXTENSIONS

    images_dir, masks_dir = Path(images_dir).expanduser(), Path(masks_dir).expanduser()
    for d, what in ((images_dir, "--images"), (masks_dir, "--masks")):
        if not d.is_dir():
            raise UserError(f"{what} {d} is not a folder: give the folder that holds the files")
    masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() in EXTENSIONS}
    pairs, unmatched = [], []
    for p in sorted(images_dir.iterdir()):
        if p.suffix.lower() not in EXTENSIONS:
            continue
        (pairs.append((p, masks[p.stem])) if p.stem in masks else unmatched.append(p.stem))
    if not pairs:
        raise UserError(f"no image in {images_dir} has a mask of the same file stem in {masks_dir} "
                        "(horse001.jpg pairs with horse001.png)")
    return pairs, unmatched


def read_mask(path, width: int, height: int) -> np.ndarray:
    """A mask file -> bool (height, width): non-zero pixels (any channel) are foreground."""
    from PIL import Image

    try:
        with Image.open(path) as m:
            a = np.asarray(m)
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad files
        raise UserError(f"cannot read the mask {Path(path).name} ({type(e).__name__})") from None
    if a.ndim == 3:
        a = a[..., :3].max(axis=2) if a.shape[2] >= 3 else a[..., 0]
    fg = a > 0
    if fg.shape != (height, width):
        fg = np.asarray(Image.fromarray(fg.astype(np.uint8)).resize((width, height), Image.NEAREST)) > 0
    return fg


def segment_eval(model, meta: dict, images_dir, masks_dir, size: int | None = None, threshold: float = DEFAULT_THRESHOLD,
                 layer: int = -1, feature: str = "tokens", limit: int | None = None, bf16: bool = False,
                 max_side: int = 1024, progress=None) -> dict:
    """Mean Jaccard (fixed, Otsu, best-possible thresholds) and similarity overlap for the model, the
    colour-and-position baseline and a randomly initialised network of the same shape, one click per
    image at the most interior pixel of its ground-truth mask."""
    from ssl_core.analysis.similarity import extract_patch_features
    from ssl_core.data.images import load_image

    pairs, unmatched = pair_files(images_dir, masks_dir)
    if limit:
        pairs = pairs[:limit]
    size = int(size or meta["arch"]["img_size"])
    norm = meta.get("normalization")
    random_model = random_init_like(meta["arch"]).to(next(model.parameters()).device)
    acc = {"model": _Acc.new(), "colour_position": _Acc.new(), "random_init": _Acc.new()}
    all_fg, skipped, per_image = [], [], []
    start = time.perf_counter()
    for n, (img_path, mask_path) in enumerate(pairs):
        try:
            pil, _ = load_image(img_path, max_side)
            image = check_image(np.asarray(pil), getattr(model, "patch_size", 16))
            gt = read_mask(mask_path, image.shape[1], image.shape[0])
            click = interior_point(gt)
        except UserError as e:
            skipped.append(f"{img_path.name}: {e}")
            continue
        row = {"image": img_path.name, "click": list(click)}
        for name, feats in (
            ("model", extract_patch_features(model, image, norm, size, layer, feature, bf16)),
            ("colour_position", colour_features(image, size)),
            ("random_init", extract_patch_features(random_model, image, norm, size, layer, feature, bf16)),
        ):
            row[name] = acc[name].add(feats, click, gt, threshold)
        all_fg.append(jaccard(np.ones_like(gt), gt))
        per_image.append(row)
        if progress:
            progress(n + 1, len(pairs))
    if not per_image:
        raise UserError(f"none of the {len(pairs)} image/mask pairs could be used: {skipped[0] if skipped else ''}")
    return {
        "n_images": len(per_image), "size": size, "layer": layer, "feature": feature, "threshold": threshold,
        "skipped": skipped, "unmatched": unmatched,
        "model": acc["model"].summary(), "colour_position": acc["colour_position"].summary(),
        "random_init": acc["random_init"].summary(), "all_foreground": {"jaccard": float(np.mean(all_fg))},
        "seconds": round(time.perf_counter() - start, 2), "per_image": per_image,
    }


def segment_file(checkpoint, image_path, points, negatives=(), threshold="otsu", out=None, size: int | None = None,
                 layer: int = -1, feature: str = "tokens", max_side: int = 4096) -> dict:
    """The `segment` command: clicks in the original image's pixels -> mask PNG of the original's size."""
    from PIL import Image

    from ssl_core.analysis.similarity import (
        extract_patch_features,
        parse_threshold,
        segment,
    )
    from ssl_core.data.images import load_image
    from ssl_core.devices import use_bf16
    from ssl_core.models.checkpoint import load_model

    threshold = parse_threshold(threshold)
    model, meta = load_model(checkpoint)
    pil, note = load_image(image_path, max_side)
    image = np.asarray(pil)
    scale = 1.0
    if note:  # clicks are in the original's pixels: bring them to the downscaled copy
        with Image.open(Path(image_path).expanduser()) as orig:
            scale = image.shape[1] / (orig.height if orig.getexif().get(0x0112, 1) in (5, 6, 7, 8) else orig.width)
    pts = [(x * scale, y * scale) for x, y in points]
    negs = [(x * scale, y * scale) for x, y in negatives]
    start = time.perf_counter()
    feats = extract_patch_features(model, image, meta.get("normalization"), size, layer, feature,
                                   use_bf16("auto", next(model.parameters()).device))
    seg = segment(feats, pts, negs, threshold)
    result = {"image": str(image_path), "width": image.shape[1], "height": image.shape[0], "note": note,
              "points": [list(p) for p in points], "negatives": [list(p) for p in negatives],
              "patches": [list(p) for p in seg.patches], "grid": list(feats.frame.grid),
              "input": [feats.frame.rw, feats.frame.rh],
              "rule": "nearest-prototype" if seg.threshold is None else ("otsu" if threshold == "otsu" else "fixed"),
              "threshold": seg.threshold, "foreground": float(seg.mask.mean()),
              "seconds": round(time.perf_counter() - start, 3)}
    if out:
        out = Path(out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((seg.mask * 255).astype(np.uint8), "L").save(out)
        result["out"] = str(out)
    return result


def format_segment_eval(r: dict) -> str:
    """The `segment-eval` table: mean Jaccard per threshold rule and similarity overlap, beside the baselines."""
    rows = [f"{'':18s} {'fixed ' + format(r['threshold'], 'g'):>10s} {'otsu':>7s} {'best':>7s} {'overlap':>8s}"]
    for name in ("model", "colour_position", "random_init"):
        s = r[name]
        rows.append(f"{name:18s} {s['jaccard_fixed']:10.3f} {s['jaccard_otsu']:7.3f} {s['jaccard_best']:7.3f} "
                    f"{s['overlap']:8.3f}")
    rows.append(f"{'all foreground':18s} {r['all_foreground']['jaccard']:10.3f}")
    extra = f"\nskipped {len(r['skipped'])}, no mask for {len(r['unmatched'])}" if r["skipped"] or r["unmatched"] else ""
    return (f"mean Jaccard of one click per image on {r['n_images']} images at {r['size']} px ({r['feature']}, "
            f"layer {r['layer']}); overlap = intra/inter-object similarity overlap (lower separates better):\n"
            + "\n".join(rows) + extra)
