"""Zero-shot segmentation of a folder of images with ground-truth masks, one click each, beside the honest
baselines (the protocol of the MMC paper in DINO practice).

For each image with a ground-truth mask: click at the most interior pixel of the mask, take the
cosine-similarity map of that patch to every patch, upsample it to the image, threshold it, and score the
mask by Jaccard (IoU) against the ground truth. With `negative`, each image also gets one negative click
at the most interior pixel of the background, under the same rule as the Look page and `segment`
(`similarity.decide`: above the threshold and nearer the positive click than the negative one). Three
threshold rules: a fixed cosine, Otsu's threshold on the map, and the best possible threshold for that
image. Discrimination: the distributions of patch-to-patch similarity within the object and between
object and background, and their overlap.

The same procedure runs, image by image, on two honest baselines: colour-and-position descriptors of
8x8 patches (mean RGB and centre, centred per image: `colour_features`, the one colour baseline), and
the random-init network of the same architecture (`ssl_core.models.random_init`).
"""

import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ssl_core.analysis.similarity import (
    DEFAULT_THRESHOLD,
    PatchFeatures,
    check_image,
    decide,
    extract_patch_features,
    make_frame,
    prompt_vectors,
    similarity_map,
)
from ssl_core.data.folder import pair_by_stem
from ssl_core.data.images import load_image, read_mask
from ssl_core.errors import UserError
from ssl_core.eval.baselines import color_position_descriptors
from ssl_core.eval.segmentation import best_threshold, interior_point, jaccard, similarity_overlap
from ssl_core.models import random_init

COLOUR_PATCH = 8


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


def colour_features(image: np.ndarray, size: int, patch: int = COLOUR_PATCH) -> PatchFeatures:
    """Colour-and-position descriptors of `patch`-pixel patches of the image resized like the model's
    input, centred per image (so cosine similarity compares deviations from the image's average)."""
    frame = make_frame(image.shape[1], image.shape[0], patch, size)
    img = Image.fromarray(image).resize((frame.rw, frame.rh), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None]
    d = color_position_descriptors(x, patch)[0]
    d = d - d.reshape(-1, d.shape[-1]).mean(0)
    return PatchFeatures(d.numpy(), frame, "colour-position")


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

    def add(self, feats: PatchFeatures, click, gt, threshold, negative_click=None) -> dict:
        score = similarity_map(feats, prompt_vectors(feats, [click]))
        neg = None if negative_click is None else similarity_map(feats, prompt_vectors(feats, [negative_click]))
        kept = score if neg is None else np.where(score > neg, score, score.min() - 1)  # what a threshold can keep
        row = {"fixed": jaccard(decide(score, neg, threshold)[0], gt),
               "otsu": jaccard(decide(score, neg, "otsu")[0], gt),
               "best": best_threshold(kept, gt)[0]}
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


def _background_point(gt) -> tuple[int, int]:
    if gt.all():
        raise UserError("the mask covers the whole image: there is no background for the negative click")
    return interior_point(~gt)


def segment_eval(model, meta: dict, images_dir, masks_dir, size: int | None = None, threshold: float = DEFAULT_THRESHOLD,
                 layer: int = -1, feature: str = "tokens", limit: int | None = None, bf16: bool = False,
                 max_side: int = 1024, progress=None, negative: bool = False) -> dict:
    """Mean Jaccard (fixed, Otsu, best-possible thresholds) and similarity overlap for the model, the
    colour-and-position baseline and a randomly initialised network of the same shape, one click per
    image at the most interior pixel of its ground-truth mask (and, with `negative`, one negative click
    at the most interior pixel of its background)."""
    pairs, unmatched = pair_by_stem(images_dir, masks_dir)
    if limit:
        pairs = pairs[:limit]
    size = int(size or meta["arch"]["img_size"])
    norm = meta.get("normalization")
    random_model = random_init(meta["arch"]).to(next(model.parameters()).device)
    acc = {"model": _Acc.new(), "colour_position": _Acc.new(), "random_init": _Acc.new()}
    all_fg, skipped, per_image = [], [], []
    start = time.perf_counter()
    for n, (img_path, mask_path) in enumerate(pairs):
        try:
            pil, _ = load_image(img_path, max_side)
            image = check_image(np.asarray(pil), getattr(model, "patch_size", 16))
            gt = read_mask(mask_path, image.shape[1], image.shape[0])
            click = interior_point(gt)
            negative_click = _background_point(gt) if negative else None
        except UserError as e:
            skipped.append(f"{img_path.name}: {e}")
            continue
        row = {"image": img_path.name, "click": list(click)}
        if negative_click is not None:
            row["negative_click"] = list(negative_click)
        for name, feats in (
            ("model", extract_patch_features(model, image, norm, size, layer, feature, bf16)),
            ("colour_position", colour_features(image, size)),
            ("random_init", extract_patch_features(random_model, image, norm, size, layer, feature, bf16)),
        ):
            row[name] = acc[name].add(feats, click, gt, threshold, negative_click)
        all_fg.append(jaccard(np.ones_like(gt), gt))
        per_image.append(row)
        if progress:
            progress(n + 1, len(pairs))
    if not per_image:
        raise UserError(f"none of the {len(pairs)} image/mask pairs could be used: {skipped[0] if skipped else ''}")
    return {
        "n_images": len(per_image), "size": size, "layer": layer, "feature": feature, "threshold": threshold,
        "negative": negative,
        "skipped": skipped, "unmatched": unmatched,
        "model": acc["model"].summary(), "colour_position": acc["colour_position"].summary(),
        "random_init": acc["random_init"].summary(), "all_foreground": {"jaccard": float(np.mean(all_fg))},
        "seconds": round(time.perf_counter() - start, 2), "per_image": per_image,
    }


def format_segment_eval(r: dict) -> str:
    """The `segment-eval` table: mean Jaccard per threshold rule and similarity overlap, beside the baselines."""
    rows = [f"{'':18s} {'fixed ' + format(r['threshold'], 'g'):>10s} {'otsu':>7s} {'best':>7s} {'overlap':>8s}"]
    for name in ("model", "colour_position", "random_init"):
        s = r[name]
        rows.append(f"{name:18s} {s['jaccard_fixed']:10.3f} {s['jaccard_otsu']:7.3f} {s['jaccard_best']:7.3f} "
                    f"{s['overlap']:8.3f}")
    rows.append(f"{'all foreground':18s} {r['all_foreground']['jaccard']:10.3f}")
    extra = f"\nskipped {len(r['skipped'])}, no mask for {len(r['unmatched'])}" if r["skipped"] or r["unmatched"] else ""
    clicks = "one positive and one negative click" if r.get("negative") else "one click"
    return (f"mean Jaccard of {clicks} per image on {r['n_images']} images at {r['size']} px ({r['feature']}, "
            f"layer {r['layer']}); overlap = intra/inter-object similarity overlap (lower separates better):\n"
            + "\n".join(rows) + extra)
