"""Zero-shot segmentation metrics: pure functions of masks and maps (the loop that runs a model over a
folder of images and masks is `ssl_core.analysis.segmentation`).

- Jaccard (IoU) of a predicted mask against the ground truth;
- the click a dataset protocol uses: the most interior pixel of the ground-truth mask (the maximum of its
  distance transform);
- the best possible threshold of a map against a mask (an upper bound that tells how separable it is);
- the overlap of two similarity distributions (within the object, and between object and background).
"""

import numpy as np
from scipy.ndimage import distance_transform_edt

from ssl_core.errors import UserError

OVERLAP_BINS = 50


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
