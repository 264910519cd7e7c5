"""Maps of a dataset's embeddings: UMAP, PCA and t-SNE in 2-D, k-means clusters, the cosine kNN graph,
leave-one-out kNN correctness, and a CSV export. Used by the Map page and `python -m ssl_core embed`.

Speed notes (2-core CPU, 10,000 points; figures in bench/embedding.py):
- UMAP's own neighbour search (NN-descent) is the numba code that compiles for tens of seconds in every
  fresh process. We compute the exact cosine kNN graph with one chunked matrix product in torch and hand
  it to umap-learn as `precomputed_knn`, which skips NN-descent entirely; `warm_up()` compiles the
  remaining numba paths (fuzzy simplicial set, layout optimisation) on a tiny input, so the app can do it
  in the background when the server starts.
- Most of umap-learn's numba functions are compiled afresh in every process (about 6 s here); we switch on
  numba's on-disk cache for them (`_cache_umap_compilation`), so only the first process ever pays it.
- PCA is a truncated SVD of the centred features (torch); t-SNE is scikit-learn's Barnes-Hut, fed the
  first 50 principal components (the usual preprocessing, and much faster than raw 192+ dims).

Features are L2-normalised before every projection: SSL embeddings are compared by cosine similarity
(kNN evaluation, the losses), so the map should show the same geometry.
"""

import csv
import io
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval.baselines import pixel_features
from ssl_core.eval.knn import cosine_topk, vote

METHODS = ("umap", "pca", "tsne")


def _as_tensor(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    if t.ndim != 2 or t.shape[0] < 1:
        raise UserError(f"features must be a 2-D array (points, dims), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise UserError("features hold NaN or infinite values: the checkpoint may have diverged")
    return t


def normalise(x) -> torch.Tensor:
    """L2-normalised float32 rows."""
    return F.normalize(_as_tensor(x), dim=1)


# ---- neighbours ------------------------------------------------------------------------------------

def knn_graph(x, k: int = 15, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-nearest-neighbour graph by brute force in torch.

    Returns (indices int64 (N, k), distances float32 (N, k)) with cosine distance 1 - cos, sorted
    nearest first; each point is its own first neighbour (distance 0), as umap-learn expects of a
    `precomputed_knn`. k is clamped to N.
    """
    x = normalise(x)
    k = max(1, min(int(k), x.shape[0]))
    s, i = cosine_topk(x, x, k, chunk, self_offset=0, self_value=2.0)  # self first, even among duplicates
    s[:, 0] = 1.0
    return i.numpy().astype(np.int64), (1.0 - s).clamp_min(0.0).numpy().astype(np.float32)


def neighbours(x, index: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other points of point `index` by cosine similarity: (indices, similarities)."""
    x = normalise(x)
    if not 0 <= index < x.shape[0]:
        raise UserError(f"point {index} does not exist: there are {x.shape[0]} points")
    k = max(0, min(int(k), x.shape[0] - 1))
    s, i = cosine_topk(x[index:index + 1], x, k, self_offset=index)
    return i[0].numpy().astype(np.int64), s[0].numpy().astype(np.float32)


def knn_correct(x, labels, k: int = 20, temperature: float = 0.1) -> np.ndarray:
    """Leave-one-out weighted kNN (Wu et al. 2018, as in ssl_core.eval.knn) within the points themselves:
    for each labelled point, whether the vote of its k nearest *other* points gives its own label.
    Returns a bool array (N,); unlabelled points (label < 0) are False and are not voters."""
    labels = torch.as_tensor(np.asarray(labels)).long()
    x = normalise(x)
    if labels.shape[0] != x.shape[0]:
        raise UserError(f"{labels.shape[0]} labels for {x.shape[0]} points")
    keep = labels >= 0
    out = np.zeros(x.shape[0], bool)
    if keep.sum() < 2:
        return out
    xs, ys = x[keep], labels[keep]
    sims, idx = cosine_topk(xs, xs, max(1, min(k, xs.shape[0] - 1)), 2048, self_offset=0)
    pred = vote(sims, ys[idx], temperature, int(ys.max()) + 1)
    out[keep.numpy()] = (pred == ys).numpy()
    return out


def knn_accuracy_loo(x, labels, k: int = 20) -> float | None:
    """Fraction of labelled points that `knn_correct` gets right; None without two labelled points."""
    labels = np.asarray(labels)
    n = int((labels >= 0).sum())
    return None if n < 2 else float(knn_correct(x, labels, k)[labels >= 0].mean())


# ---- projections -----------------------------------------------------------------------------------

def pca(x, n_components: int = 2, normalise_rows: bool = True) -> np.ndarray:
    """Principal-component coordinates (N, n_components) by SVD of the centred data.

    The sign of each component is fixed so its largest-magnitude loading is positive, so the map
    does not flip between runs or machines.
    """
    x = normalise(x) if normalise_rows else _as_tensor(x)
    x = x.double()
    x = x - x.mean(0)
    q = min(n_components, *x.shape)
    _u, s, vt = torch.linalg.svd(x, full_matrices=False)
    v = vt[:q]
    sign = torch.sign(v.gather(1, v.abs().argmax(1, keepdim=True)))
    v = v * torch.where(sign == 0, torch.ones_like(sign), sign)
    out = (x @ v.T).float().numpy()
    if q < n_components:  # fewer points or dims than components: pad with zeros
        out = np.pad(out, ((0, 0), (0, n_components - q)))
    return out


_UMAP_CACHED = False


def _cache_umap_compilation() -> None:
    """Turn on numba's on-disk cache (what `cache=True` does) for umap-learn's jitted functions, once per
    process and before their first call: later processes load the machine code instead of compiling it.
    numba keeps the cache beside umap's sources, or in ~/.cache when that folder is read-only."""
    global _UMAP_CACHED
    if _UMAP_CACHED:
        return
    _UMAP_CACHED = True
    from numba.core.registry import CPUDispatcher
    import umap.layouts
    import umap.spectral
    import umap.umap_
    import umap.utils

    for module in (umap.umap_, umap.layouts, umap.spectral, umap.utils):
        for f in vars(module).values():
            if isinstance(f, CPUDispatcher) and not f.signatures:
                try:
                    f.enable_caching()
                except RuntimeError:  # no writable cache location: compile in memory as before
                    return


def umap(x, n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0, graph=None,
         precomputed: bool = True, n_epochs: int | None = 200) -> np.ndarray:
    """UMAP (umap-learn, cosine metric) to 2-D.

    With `precomputed` (the default) the exact cosine kNN graph from `knn_graph` (or `graph` =
    (indices, distances) if already computed) is passed as `precomputed_knn`, skipping umap's
    NN-descent and its compilation. `seed=None` lets umap use both cores (not reproducible);
    an integer gives the same map every time. `n_epochs=200` is umap-learn's own choice above
    10,000 points; its 500 below that cost 2.5x the time for a map that looks the same at a glance.
    """
    x = normalise(x)
    n = x.shape[0]
    if n < 4:
        return pca(x)  # UMAP's spectral init needs a few points; a tiny map is a PCA
    k = max(2, min(int(n_neighbors), n - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs/random_state and "no search index" notices
        import umap as umap_learn

        _cache_umap_compilation()
        kwargs = dict(n_neighbors=k, min_dist=min_dist, metric="cosine", random_state=seed,
                      n_components=2, init="spectral" if n > k + 2 else "random", n_epochs=n_epochs)
        if precomputed:
            idx, dist = graph if graph is not None else knn_graph(x, k)
            kwargs["precomputed_knn"] = (idx[:, :k], dist[:, :k], None)
        if seed is None:
            kwargs["n_jobs"] = -1
        out = umap_learn.UMAP(**kwargs).fit_transform(x.numpy())
    return np.asarray(out, dtype=np.float32)


def tsne(x, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """t-SNE (scikit-learn, Barnes-Hut) to 2-D on the first 50 principal components, PCA-initialised."""
    from sklearn.manifold import TSNE

    x = normalise(x)
    n = x.shape[0]
    if n < 4:
        return pca(x)
    z = pca(x, min(50, x.shape[1]), normalise_rows=False) if x.shape[1] > 50 else x.numpy()
    perplexity = float(min(perplexity, (n - 1) / 3))
    out = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric="euclidean",
               n_jobs=1).fit_transform(z.astype(np.float32))
    return np.asarray(out, dtype=np.float32)


def project(x, method: str = "umap", seed: int | None = 0, **options) -> np.ndarray:
    """2-D coordinates (N, 2) of the rows of x by `method` in METHODS."""
    if method not in METHODS:
        raise UserError(f"unknown projection {method!r}: use umap, pca or tsne")
    if method == "pca":
        return pca(x)
    if method == "tsne":
        return tsne(x, seed=0 if seed is None else seed, **options)
    return umap(x, seed=seed, **options)


def kmeans(x, k: int = 10, seed: int = 0) -> np.ndarray:
    """k-means cluster ids (N,) of the L2-normalised features (scikit-learn, k-means++ init)."""
    from sklearn.cluster import KMeans

    x = normalise(x)
    k = max(1, min(int(k), x.shape[0]))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x.numpy().astype(np.float64)).astype(
        np.int64)


def warm_up() -> float:
    """Compile umap-learn's numba code (the precomputed-graph path we use) on a tiny input; returns the
    seconds it took. Call once per process, e.g. in a background thread when the app starts."""
    t0 = time.perf_counter()
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    umap(x, n_neighbors=5, seed=0)
    return time.perf_counter() - t0


# ---- tables and baselines --------------------------------------------------------------------

def coordinates_table(coords, names, labels=None, class_names=(), clusters=None, correct=None) -> list[dict]:
    """One row a point: index, name, x, y, label, label_name, and cluster / knn_correct when given."""
    coords = np.asarray(coords)
    n = len(coords)
    if len(names) != n:
        raise UserError(f"{len(names)} names for {n} points")
    rows = []
    for i in range(n):
        row = {"index": i, "name": names[i], "x": float(coords[i, 0]), "y": float(coords[i, 1])}
        if labels is not None:
            lab = int(labels[i])
            row["label"] = lab
            row["label_name"] = class_names[lab] if 0 <= lab < len(class_names) else ""
        if clusters is not None:
            row["cluster"] = int(clusters[i])
        if correct is not None:
            row["knn_correct"] = int(bool(correct[i]))
        rows.append(row)
    return rows


def to_csv(rows: list[dict], indices=None) -> str:
    """CSV text of `coordinates_table` rows (all, or only those at `indices`), header first."""
    if indices is not None:
        rows = [rows[i] for i in indices]
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["index", "name", "x", "y"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def pixel_baseline(images, labels, k: int = 20) -> float | None:
    """The same leave-one-out kNN accuracy on raw pixels (ssl_core.eval.baselines.pixel_features): the
    baseline that sits beside every model's figure."""
    return knn_accuracy_loo(pixel_features(images), labels, k)
