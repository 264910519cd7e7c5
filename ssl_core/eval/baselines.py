"""Honest baselines that need no network trained by backpropagation: raw pixels, colour plus position of
patches, and the single-layer k-means features of Coates, Lee and Ng (2011)."""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval import _checks


def _area_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float images area-resized (average pooling) so the longer side is `size`; smaller ones are kept."""
    h, w = x.shape[-2:]
    scale = min(1.0, size / max(h, w))
    if scale == 1:
        return x
    return F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")


def pixel_features(images_uint8, size: int = 32) -> torch.Tensor:
    """The raw-pixel baseline beside every kNN figure: (N, 3, H, W) uint8 -> (N, 3 * h * w) float.

    Images larger than size are area-resized (average pooling) so the longer side is `size`,
    keeping the aspect ratio; smaller ones are kept. Values are scaled to [0, 1], flattened, and
    centred per feature with the mean over this batch (so call it once on a batch, not image by
    image: a single image centres to zero). lightly reports kNN 0.355 on CIFAR-10 for raw pixels.
    """
    x = _checks.images_uint8(images_uint8)
    _check_size(size)
    x = _area_resize(x.float() / 255, size).flatten(1)
    return x - x.mean(0)


def _check_size(size) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UserError(f"size must be a positive integer, got {size!r}; try 32.")


def color_position_descriptors(images_uint8, patch: int) -> torch.Tensor:
    """Per non-overlapping patch, (mean R, mean G, mean B, centre x, centre y), all in [0, 1].

    (N, 3, H, W) uint8 -> (N, H // patch, W // patch, 5); rows and columns that do not fill a
    whole patch are dropped, as in a ViT patch embedding. The centre of patch (i, j) is
    ((j + 0.5) * patch / W, (i + 0.5) * patch / H) in the image's own pixel frame, so a click at
    pixel (x, y) sits in the patch whose centre is nearest (x / W, y / H). This is the plain
    colour-and-position baseline for patch similarity (the MMC paper's protocol, as `segment-eval` runs it).
    """
    x = _checks.images_uint8(images_uint8)
    n, _, h, w = x.shape
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(h, w):
        raise UserError(f"patch must be an integer between 1 and the image side {min(h, w)}, "
                        f"got {patch!r}; try 8.")
    rgb = F.avg_pool2d(x.float() / 255, patch).permute(0, 2, 3, 1)  # (N, h', w', 3)
    hp, wp = rgb.shape[1:3]
    cy = (torch.arange(hp, device=x.device) + 0.5) * patch / h
    cx = (torch.arange(wp, device=x.device) + 0.5) * patch / w
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    pos = torch.stack([xx, yy], dim=-1).expand(n, hp, wp, 2)
    return torch.cat([rgb, pos], dim=-1)


# --- Coates, Lee, Ng 2011: single-layer k-means features ------------------------------------------------

class KMeansDictionary(NamedTuple):
    """The first stage Coates, Lee and Ng learn without labels: patch whitening and k-means centroids."""

    mean: torch.Tensor  # (D,) mean of the normalised patches
    zca: torch.Tensor  # (D, D) ZCA whitening matrix
    centroids: torch.Tensor  # (K, D) in the whitened space
    patch: int
    size: int  # images are area-resized to at most this side first


def image_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Every `patch` x `patch` patch at stride 1 of float images (N, 3, H, W), as rows (N, L, 3 * patch^2)."""
    return F.unfold(x, patch).transpose(1, 2)


def normalise_patches(p: torch.Tensor) -> torch.Tensor:
    """Brightness and contrast normalisation of each patch (0-255 pixel scale, as the paper's code):
    (p - mean(p)) / sqrt(var(p) + 10)."""
    return (p - p.mean(-1, keepdim=True)) / (p.var(-1, keepdim=True) + 10).sqrt()


def zca_whitening(p: torch.Tensor, eps: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and ZCA matrix of patch rows (M, D): P = V diag(1 / sqrt(d + eps)) V^T of their covariance
    (eps = 0.1 on normalised patches, as the paper's code), so (p - mean) @ P has near-identity covariance."""
    p = p.double()
    mean = p.mean(0)
    d, v = torch.linalg.eigh(torch.cov((p - mean).T))
    return mean.float(), (v * (d + eps).rsqrt()) @ v.T


def kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0, chunk: int = 8192) -> torch.Tensor:
    """Lloyd's k-means of rows (M, D) as the paper's `run_kmeans.m`: centroids start as 0.1 * N(0, 1),
    each iteration assigns rows to argmax_j (c_j . x - |c_j|^2 / 2) (the nearest centroid) and moves each
    centroid to its rows' mean; a centroid that gets no row is set to zero."""
    g = torch.Generator().manual_seed(seed)
    c = 0.1 * torch.randn(k, x.shape[1], generator=g).to(x)
    for _ in range(iters):
        sums, counts = torch.zeros_like(c), torch.zeros(k, dtype=x.dtype, device=x.device)
        half = 0.5 * (c * c).sum(1)
        for xs in x.split(chunk):
            label = (xs @ c.T - half).argmax(1)
            sums.index_add_(0, label, xs)
            counts += torch.bincount(label, minlength=k).to(x.dtype)
        c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], 0.0)
    return c


def fit_kmeans_dictionary(images_uint8, k: int = 1600, patch: int = 6, n_patches: int = 400_000, iters: int = 50,
                          size: int = 32, seed: int = 0) -> KMeansDictionary:
    """Learn the first stage from unlabelled images (sec. 3.1 of the paper): `n_patches` random patches
    (400,000 in the paper), brightness and contrast normalised, ZCA-whitened, clustered into `k` centroids by
    `iters` rounds of k-means (see `kmeans_features`)."""
    x = _checks.images_uint8(images_uint8)
    _check_size(size)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or not isinstance(patch, int) or patch < 1:
        raise UserError(f"k and patch must be positive integers, got k={k!r}, patch={patch!r}; try k=1600, patch=6.")
    h, w = _area_resize(x[:1].float(), size).shape[-2:]
    if patch > min(h, w):
        raise UserError(f"patch {patch} is larger than the {h}x{w} images; try patch=6.")
    # As the paper's code: patch i comes from image i mod N, at a uniformly random position.
    n, positions = x.shape[0], (h - patch + 1) * (w - patch + 1)
    img = torch.arange(n_patches) % n
    pos = torch.randint(0, positions, (n_patches,), generator=torch.Generator().manual_seed(seed))
    rows = []
    for start in range(0, n, 512):
        here = (img >= start) & (img < start + 512)
        chunk = _area_resize(x[start:start + 512].float(), size)
        rows.append(image_patches(chunk, patch)[img[here] - start, pos[here]])
    p = normalise_patches(torch.cat(rows))
    mean, zca = zca_whitening(p)
    white = (p - mean) @ zca.float()
    return KMeansDictionary(mean, zca.float(), kmeans(white, k, iters, seed), patch, size)


def triangle_activation(white: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The paper's "k-means (triangle)" encoding, f_k(x) = max(0, mu(z) - z_k), with z_k = |x - c_k| and
    mu(z) the mean of z over the K centroids: about half the features are zero. (..., D) -> (..., K)."""
    xx = (white * white).sum(-1, keepdim=True)
    z = (xx - 2 * white @ centroids.T + (centroids * centroids).sum(1)).clamp_min(0).sqrt()
    return (z.mean(-1, keepdim=True) - z).clamp_min(0)


def quadrant_pool(f: torch.Tensor) -> torch.Tensor:
    """Sum pooling over the four quadrants of a feature map (N, h, w, K) -> (N, 4K), split at
    round(h / 2) and round(w / 2) as the paper's code (MATLAB rounds 13.5 up)."""
    hr, wc = (f.shape[1] + 1) // 2, (f.shape[2] + 1) // 2
    quads = (f[:, :hr, :wc], f[:, :hr, wc:], f[:, hr:, :wc], f[:, hr:, wc:])
    return torch.cat([q.sum((1, 2)) for q in quads], dim=1)


@torch.no_grad()
def kmeans_features(images_uint8, dictionary: KMeansDictionary, batch: int = 32) -> torch.Tensor:
    """Coates, Lee, Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature Learning" (AISTATS
    2011), sec. 3 and 4.1: every 6x6 patch at stride 1 (27 x 27 of them at 32 px), normalised and whitened
    (sec. 3.1.1), encoded by the triangle activation against the k-means centroids (sec. 3.1.2, eq. (2)
    ... "k-means (triangle)"), sum-pooled over the four quadrants: (N, 3, H, W) uint8 -> (N, 4K) float32.

    The paper reaches 77.9% linear (L2-SVM) top-1 on CIFAR-10 with 1,600 centroids and 79.6% with 4,000;
    their features are standardised before the classifier, as our linear probe does. Departures: images
    are area-resized to `dictionary.size` (32) first, so larger photographs cost what CIFAR does (the
    paper studies 32 px only); the number of centroids is the caller's (`fit_kmeans_dictionary`, default
    1,600: 4,000 costs 2.5x the time on a CPU for 1.7 points in the paper).
    """
    x = _checks.images_uint8(images_uint8)
    d = dictionary
    out = []
    for xs in x.split(batch):
        xs = _area_resize(xs.float(), d.size)
        h, w = xs.shape[-2] - d.patch + 1, xs.shape[-1] - d.patch + 1
        white = (normalise_patches(image_patches(xs, d.patch)) - d.mean) @ d.zca
        f = triangle_activation(white, d.centroids).view(xs.shape[0], h, w, -1)
        out.append(quadrant_pool(f))
    return torch.cat(out)
