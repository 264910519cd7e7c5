import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.eval import color_position_descriptors, knn_accuracy, pixel_features
from ssl_core.eval.baselines import (
    fit_kmeans_dictionary,
    image_patches,
    kmeans,
    kmeans_features,
    normalise_patches,
    quadrant_pool,
    triangle_activation,
    zca_whitening,
)


def test_pixel_features_shapes_and_centring():
    imgs = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    f = pixel_features(imgs)
    assert f.shape == (5, 3 * 32 * 32) and f.dtype == torch.float32
    assert f.mean(0).abs().max() < 1e-6
    assert pixel_features(imgs[:, :, :32], size=32).shape == (5, 3 * 16 * 32)  # keeps aspect
    assert pixel_features(imgs[:, :, :8, :8], size=32).shape == (5, 3 * 8 * 8)  # no upscaling


def test_pixel_features_area_resize_averages():
    imgs = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    imgs[0, :, 0, 0] = 255  # mean 0.25 after area resize to 1x1
    f = pixel_features(imgs, size=1)
    assert f[:, 0].tolist() == pytest.approx([0.125, -0.125])


def test_color_position_descriptors_of_hand_made_image():
    img = torch.zeros(1, 3, 4, 6, dtype=torch.uint8)  # H=4, W=6, patch 2 -> 2 x 3 patches
    img[0, 0, 0:2, 0:2] = 255  # top-left patch red
    img[0, 1, 2:4, 4:6] = torch.tensor([[255, 0], [0, 255]], dtype=torch.uint8)  # half green
    d = color_position_descriptors(img, patch=2)
    assert d.shape == (1, 2, 3, 5)
    assert d[0, 0, 0].tolist() == pytest.approx([1, 0, 0, 1 / 6, 1 / 4])
    assert d[0, 1, 2].tolist() == pytest.approx([0, 0.5, 0, 5 / 6, 3 / 4])
    assert d[0, 1, 1].tolist() == pytest.approx([0, 0, 0, 1 / 2, 3 / 4])


def test_color_position_descriptors_drop_partial_patches():
    assert color_position_descriptors(torch.zeros(2, 3, 5, 7, dtype=torch.uint8), 2).shape == (2, 2, 3, 5)


def test_bad_images_raise_user_error():
    with pytest.raises(UserError, match="uint8"):
        pixel_features(torch.rand(2, 3, 8, 8))
    with pytest.raises(UserError, match="channels first"):
        pixel_features(torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(UserError, match="patch"):
        color_position_descriptors(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), patch=5)


# --- Coates, Lee, Ng 2011 k-means features --------------------------------------------------------------

def test_zca_whitening_gives_each_direction_variance_d_over_d_plus_eps():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 4, generator=g) @ torch.tensor([[3.0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 0.2]])
    mean, zca = zca_whitening(x, eps=0.1)
    d = torch.linalg.eigvalsh(torch.cov(x.T).double())
    white = ((x - mean) @ zca.float()).double()
    assert torch.linalg.eigvalsh(torch.cov(white.T)).tolist() == pytest.approx((d / (d + 0.1)).tolist(), abs=1e-4)
    mean, zca = zca_whitening(x, eps=1e-9)  # no regulariser: white, and symmetric (ZCA, not PCA, whitening)
    assert torch.allclose(torch.cov(((x - mean) @ zca.float()).T), torch.eye(4), atol=1e-3)
    assert torch.allclose(zca, zca.T)


def test_patches_are_normalised_for_brightness_and_contrast():
    p = torch.tensor([[10.0, 20.0, 30.0], [110.0, 120.0, 130.0], [5.0, 5.0, 5.0]])
    n = normalise_patches(p)
    assert n[0].tolist() == pytest.approx(n[1].tolist())  # brightness removed
    assert n[0].tolist() == pytest.approx([-10 / 110**0.5, 0, 10 / 110**0.5])  # var 100 (+10)
    assert n[2].tolist() == [0, 0, 0]  # a flat patch stays finite


def test_image_patches_unfold_channel_major():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    p = image_patches(x, 2)
    assert p.shape == (2, 9, 12)
    assert p[1, 4].tolist() == x[1, :, 1:3, 1:3].flatten().tolist()  # patch at row 1, column 1


def test_kmeans_is_a_fixed_point_of_lloyds_step_and_zeroes_empty_centroids():
    g = torch.Generator().manual_seed(1)
    x = torch.cat([c + 0.3 * torch.randn(200, 2, generator=g) for c in torch.tensor([[5.0, 0], [-5, 0], [0, 6]])])
    c = kmeans(x, 4, iters=30, seed=3)
    label = torch.cdist(x, c).argmin(1)
    for j in range(4):
        mine = x[label == j]
        assert c[j].tolist() == pytest.approx(mine.mean(0).tolist() if len(mine) else [0.0, 0.0], abs=1e-4)
    assert kmeans(x, 1, iters=2)[0].tolist() == pytest.approx(x.mean(0).tolist(), abs=1e-4)
    far = kmeans(x + 1000, 2, iters=2)  # both start near 0: one wins every point, the other is emptied
    assert sorted(far.abs().sum(1).tolist())[0] == 0


def test_triangle_activation_by_hand():
    centroids = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    f = triangle_activation(torch.tensor([[0.0, 0.0]]), centroids)
    # distances z = (0, 5, 10), mean 5: f = max(0, 5 - z) = (5, 0, 0)
    assert f.tolist() == [pytest.approx([5.0, 0.0, 0.0], abs=1e-5)]


def test_quadrant_pool_sums_each_quadrant_split_as_matlab_rounds():
    f = torch.arange(27 * 27, dtype=torch.float32).view(1, 27, 27, 1)
    q = quadrant_pool(f)
    assert q.shape == (1, 4)
    quadrants = [f[0, :14, :14], f[0, :14, 14:], f[0, 14:, :14], f[0, 14:, 14:]]
    assert q[0].tolist() == pytest.approx([x.sum().item() for x in quadrants])
    assert q.sum().item() == pytest.approx(f.sum().item())


def test_kmeans_features_tell_stripe_directions_apart():
    """Horizontal against vertical stripes of random period, phase and colour: oriented-edge centroids."""
    g = torch.Generator().manual_seed(0)

    def stripes(n, vertical):
        period = torch.randint(3, 7, (n, 1, 1), generator=g)
        phase = torch.randint(0, 6, (n, 1, 1), generator=g)
        t = ((torch.arange(32).view(1, 32, 1) + phase) % period) * 2 < period
        t = t.expand(n, 32, 32)
        t = t.transpose(1, 2) if vertical else t
        colour = torch.randint(60, 256, (n, 3, 1, 1), generator=g)
        return (t[:, None] * colour).to(torch.uint8)

    train = torch.cat([stripes(40, False), stripes(40, True)])
    test = torch.cat([stripes(20, False), stripes(20, True)])
    y_train, y_test = torch.arange(80) // 40, torch.arange(40) // 20
    d = fit_kmeans_dictionary(train, k=16, n_patches=5000, iters=10)
    f_train, f_test = kmeans_features(train, d), kmeans_features(test, d)
    assert f_train.shape == (80, 64) and (f_train >= 0).all()
    assert knn_accuracy(f_train, y_train, f_test, y_test, ks=(5,))[5] == 1.0


def test_kmeans_features_resize_large_images_to_the_dictionary_size():
    imgs = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    d = fit_kmeans_dictionary(imgs, k=4, n_patches=500, iters=2)
    assert d.size == 32 and kmeans_features(imgs, d).shape == (4, 16)
    with pytest.raises(UserError, match="patch"):
        fit_kmeans_dictionary(imgs[:, :, :4, :4], k=4, n_patches=10)
