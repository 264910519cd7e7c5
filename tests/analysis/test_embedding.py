"""Projections, neighbours, clusters and exports of ssl_core.analysis.embedding (and thumbnails)."""

import csv
import io

import numpy as np
import pytest
import torch

from ssl_core.analysis import embedding as emb
from ssl_core.analysis import thumbnails
from ssl_core.errors import UserError


def blobs(n_per=40, dims=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dims, generator=g) * 4
    x = torch.cat([centres[c] + torch.randn(n_per, dims, generator=g) for c in range(classes)])
    return x, torch.arange(classes).repeat_interleave(n_per)


def test_knn_graph_matches_sklearn_brute_cosine():
    from sklearn.neighbors import NearestNeighbors

    x = torch.randn(300, 24, generator=torch.Generator().manual_seed(1))
    idx, dist = emb.knn_graph(x, k=10, chunk=64)  # several chunks
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(x.numpy()) \
        .kneighbors(x.numpy())
    assert idx.shape == (300, 10) and dist.shape == (300, 10) and idx.dtype == np.int64
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    np.testing.assert_allclose(dist, ref_dist, atol=1e-5)
    assert (idx == ref_idx).mean() > 0.99  # ties aside, the same neighbours


def test_knn_graph_clamps_k_and_keeps_self_first_among_duplicates():
    x = torch.ones(5, 3)
    idx, dist = emb.knn_graph(x, k=50)
    assert idx.shape == (5, 5) and (idx[:, 0] == np.arange(5)).all()
    np.testing.assert_allclose(dist, 0, atol=1e-6)


def test_pca_hand_case():
    # Points on a line along (1, 1)/sqrt(2) in 2-D, scale 1 ... 4: the first component is that line.
    t = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    x = torch.stack([t, t], dim=1) / np.sqrt(2) + torch.tensor([5.0, 5.0])
    z = emb.pca(x, 1, normalise_rows=False)
    np.testing.assert_allclose(np.abs(z[:, 0]), [3, 1, 1, 3], atol=1e-5)
    assert z[0, 0] * z[3, 0] < 0
    # sign convention: deterministic, whatever the order of the rows
    z2 = emb.pca(x.flip(0), 1, normalise_rows=False)
    np.testing.assert_allclose(z2[::-1], z, atol=1e-5)


def test_pca_variance_order_and_padding():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g) * torch.tensor([5.0, 2.0, 0.1])
    z = emb.pca(x, 2, normalise_rows=False)
    assert z.shape == (200, 2) and z[:, 0].var() > z[:, 1].var() > 0
    assert emb.pca(torch.randn(1, 4), 2).shape == (1, 2)


@pytest.mark.parametrize("method", emb.METHODS)
def test_projections_shape_and_determinism(method):
    x, _ = blobs()
    a = emb.project(x, method, seed=0)
    b = emb.project(x, method, seed=0)
    assert a.shape == (len(x), 2) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("method", emb.METHODS)
def test_projections_separate_clusters(method):
    x, y = blobs()
    z = emb.project(x, method, seed=0)
    # each point's nearest map neighbour has its own class (clusters stay apart in 2-D)
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y.numpy()[d.argmin(1)] == y.numpy()).mean() > 0.95


def test_umap_with_and_without_precomputed_graph():
    x, _ = blobs(n_per=30)
    graph = emb.knn_graph(emb.normalise(x), 15)  # the graph umap() makes itself (UMAP is chaotic: same floats)
    a = emb.umap(x, seed=0, graph=graph)
    b = emb.umap(x, seed=0)
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = emb.umap(x, seed=0, precomputed=False)
    assert c.shape == a.shape


def test_tiny_inputs_do_not_fail():
    for n in (1, 2, 3, 5):
        for m in emb.METHODS:
            assert emb.project(torch.randn(n, 4), m).shape == (n, 2)


def test_bad_input_is_user_error():
    with pytest.raises(UserError):
        emb.project(torch.randn(10, 4), "mds")
    with pytest.raises(UserError):
        emb.project(torch.randn(10), "pca")
    with pytest.raises(UserError):
        emb.pca(torch.full((4, 3), float("nan")))


def test_kmeans_recovers_blobs_and_is_deterministic():
    x, y = blobs()
    c = emb.kmeans(x, 3, seed=0)
    assert c.shape == (len(x),) and set(c) == {0, 1, 2}
    np.testing.assert_array_equal(c, emb.kmeans(x, 3, seed=0))
    # each cluster is one class
    assert all(len(set(y.numpy()[c == k])) == 1 for k in range(3))


def test_knn_correct_leave_one_out():
    x, y = blobs()
    ok = emb.knn_correct(x, y, k=5)
    assert ok.dtype == bool and ok.all()
    # a point moved into another class's blob is voted wrong (its own copy is left out)
    x2 = x.clone()
    x2[0] = x[-1] + 0.01
    assert not emb.knn_correct(x2, y, k=5)[0]
    assert emb.knn_accuracy_loo(x, y, k=5) == 1.0
    unl = torch.full_like(y, -1)
    assert not emb.knn_correct(x, unl).any() and emb.knn_accuracy_loo(x, unl) is None


def test_neighbours_excludes_self():
    x, _ = blobs()
    idx, sims = emb.neighbours(x, 3, k=4)
    assert 3 not in idx and len(idx) == 4 and (np.diff(sims) <= 1e-6).all()
    with pytest.raises(UserError):
        emb.neighbours(x, 10_000)


def test_csv_columns_and_selection():
    z = np.array([[0.5, 1.0], [2.0, -1.0], [3.0, 0.0]], np.float32)
    rows = emb.coordinates_table(z, ["a.png", "b.png", "c,d.png"], labels=[0, 1, -1], class_names=["cat", "dog"],
                                 clusters=[1, 0, 1], correct=[True, False, False])
    text = emb.to_csv(rows)
    got = list(csv.DictReader(io.StringIO(text)))
    assert list(got[0]) == ["index", "name", "x", "y", "label", "label_name", "cluster", "knn_correct"]
    assert got[2]["name"] == "c,d.png" and got[2]["label_name"] == "" and got[1]["label_name"] == "dog"
    assert float(got[1]["x"]) == 2.0 and got[0]["knn_correct"] == "1"
    sel = list(csv.DictReader(io.StringIO(emb.to_csv(rows, [2]))))
    assert [r["index"] for r in sel] == ["2"]
    with pytest.raises(UserError):
        emb.coordinates_table(z, ["a"])


def test_warm_up_runs():
    assert emb.warm_up() >= 0


def test_thumbnails_png_and_spread_sample():
    img = torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
    png = thumbnails.thumbnail_png(img, 16)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (16, 16)
    assert thumbnails.data_uri(img).startswith("data:image/png;base64,")
    z = np.random.default_rng(0).normal(size=(5000, 2))
    pick = thumbnails.spread_sample(z, 100)
    assert 0 < len(pick) <= 100 and len(set(pick)) == len(pick)
    assert (thumbnails.spread_sample(z[:10], 100) == np.arange(10)).all()


def test_contact_sheet_puts_image_start_plus_k_at_row_k_div_cols_col_k_mod_cols():
    from PIL import Image

    n = 23
    grey = torch.arange(n, dtype=torch.uint8) * 10  # image i is a flat square of grey level 10 i
    images = grey.view(n, 1, 1, 1).expand(n, 3, 40, 40).contiguous()
    sheet = np.asarray(Image.open(io.BytesIO(thumbnails.contact_sheet(images, 10, count=8, size=16, cols=3))))
    assert sheet.shape == (3 * 16, 3 * 16, 3)  # 8 images, 3 columns: 3 rows, the last one short
    for k in range(8):
        r, c = divmod(k, 3)
        cell = sheet[r * 16 + 4:r * 16 + 12, c * 16 + 4:c * 16 + 12].astype(float)
        assert abs(cell.mean() - 10 * (10 + k)) < 4, k  # JPEG is lossy, the flat centre barely so
    tail = np.asarray(Image.open(io.BytesIO(thumbnails.contact_sheet(images, 20, count=100, size=8, cols=10))))
    assert tail.shape == (8, 80, 3)  # images 20..22 only, on one row of 10 cells
    with pytest.raises(ValueError, match="index 30"):
        thumbnails.contact_sheet(images, 30)


def test_cli_embed_writes_csv_and_bad_input_is_one_line(tmp_path):
    import json
    import subprocess
    import sys

    from tests.features.test_store import checkpoint

    _model, ckpt = checkpoint(tmp_path)
    out = tmp_path / "coords.csv"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ssl_core", "embed", *map(str, args)], capture_output=True,
                              text=True, timeout=300)

    proc = cli("--checkpoint", ckpt, "--data", "shapes:n=300", "--method", "pca", "--out", out, "--limit", 40,
               "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["points"] == 40 and 0 <= summary["knn_loo_k20"] <= 1
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 40 and list(rows[0]) == ["index", "name", "x", "y", "label", "label_name", "cluster",
                                                 "knn_correct"]
    assert {r["name"].split("/")[1] for r in rows} == {"train", "test"}  # the whole data set by default
    assert summary["split"] == "all"
    for bad in (["--checkpoint", tmp_path / "missing.safetensors", "--data", "shapes", "--method", "pca"],
                ["--checkpoint", ckpt, "--data", "nowhere/folder", "--method", "pca"],
                ["--checkpoint", ckpt, "--data", "shapes", "--method", "pca", "--limit", 0]):
        proc = cli(*bad, "--out", out)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, \
            proc.stderr
