import pytest
import torch

from ssl_core.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ViewConfig,
    augment,
    multi_crop,
    normalize,
)
from ssl_core.data.augment import crop_boxes

PLAIN = {"jitter_p": 0.0, "gray_p": 0.0, "flip_p": 0.0}  # geometry only


@pytest.fixture
def images():
    return torch.randint(0, 256, (16, 3, 24, 24), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def unnorm(x, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    return x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)


def test_shape_dtype_and_range(images):
    cfg = ViewConfig(size=16, blur_p=0.5, solarize_p=0.5)
    x = augment(images, cfg, gen())
    assert x.shape == (16, 3, 16, 16) and x.dtype == torch.float32
    u = unnorm(x)
    assert u.min() >= -1e-5 and u.max() <= 1 + 1e-5


def test_same_generator_state_same_views(images):
    cfg = ViewConfig(size=20, blur_p=0.5, solarize_p=0.3)
    assert torch.equal(augment(images, cfg, gen(3)), augment(images, cfg, gen(3)))
    assert not torch.equal(augment(images, cfg, gen(3)), augment(images, cfg, gen(4)))


def test_identity_view_is_the_image(images):
    cfg = ViewConfig(size=24, scale=(1, 1), ratio=(1, 1), **PLAIN)
    assert torch.allclose(augment(images, cfg, gen()), normalize(images), atol=1e-5)


def test_flip_is_a_mirror_of_the_centre_crop(images):
    cfg = ViewConfig(size=24, scale=(1, 1), ratio=(1, 1), jitter_p=0.0, gray_p=0.0, flip_p=1.0)
    assert torch.allclose(augment(images, cfg, gen()), normalize(images).flip(-1), atol=1e-5)


def test_full_crop_resized_matches_an_antialiased_resize(images):
    cfg = ViewConfig(size=12, scale=(1, 1), ratio=(1, 1), **PLAIN)
    ref = torch.nn.functional.interpolate(images.float() / 255, size=(12, 12), mode="bilinear", antialias=True)
    assert torch.allclose(unnorm(augment(images, cfg, gen())), ref, atol=1e-5)


def test_grayscale_makes_channels_equal(images):
    x = unnorm(augment(images, ViewConfig(size=16, jitter_p=0, gray_p=1.0), gen()))
    assert torch.allclose(x[:, 0], x[:, 1], atol=1e-5) and torch.allclose(x[:, 1], x[:, 2], atol=1e-5)


def test_solarize_inverts_bright_pixels():
    img = torch.tensor([0, 100, 127, 128, 200, 255], dtype=torch.uint8).view(1, 1, 1, 6).expand(1, 3, 6, 6)
    cfg = ViewConfig(size=6, scale=(1, 1), ratio=(1, 1), solarize_p=1.0, **PLAIN)
    out = unnorm(augment(img.contiguous(), cfg, gen()))[0, 0, 0]
    v = torch.tensor([0, 100, 127, 128, 200, 255]) / 255
    assert torch.allclose(out, torch.where(v >= 0.5, 1 - v, v), atol=1e-5)


def test_strength_zero_means_no_colour_change(images):
    cfg = ViewConfig(size=24, scale=(1, 1), ratio=(1, 1), flip_p=0, jitter_p=1.0, gray_p=1.0, strength=0.0)
    assert torch.allclose(augment(images, cfg, gen()), normalize(images), atol=1e-4)


def test_jitter_changes_colours_per_sample(images):
    cfg = ViewConfig(size=24, scale=(1, 1), ratio=(1, 1), flip_p=0, jitter_p=1.0, gray_p=0.0)
    x = unnorm(augment(images, cfg, gen()))
    change = (x - images.float() / 255).abs().mean((1, 2, 3))
    assert (change > 1e-3).all() and change.std() > 0


def test_hue_rotation_keeps_luma():
    img = torch.randint(60, 200, (8, 3, 8, 8), generator=gen(1), dtype=torch.uint8)
    cfg = ViewConfig(size=8, scale=(1, 1), ratio=(1, 1), jitter_p=1.0, brightness=0, contrast=0, saturation=0,
                     hue=0.5, **{k: v for k, v in PLAIN.items() if k != "jitter_p"})
    x = unnorm(augment(img, cfg, gen()))
    luma = torch.tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1)
    before, after = (img.float() / 255 * luma).sum(1), (x * luma).sum(1)
    unclipped = (x > 0.01).all(1) & (x < 0.99).all(1)
    assert torch.allclose(before[unclipped], after[unclipped], atol=1e-4)
    assert not torch.allclose(x, img.float() / 255, atol=1e-2)


def test_blur_smooths_and_keeps_the_mean():
    img = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)  # kernel: 7 taps (10% of the side, odd)
    img[..., ::2] = 255  # stripes one pixel wide
    cfg = ViewConfig(size=64, scale=(1, 1), ratio=(1, 1), blur_p=1.0, blur_sigma=(2.0, 2.0), **PLAIN)
    x = unnorm(augment(img, cfg, gen()))
    assert x.std() < 0.1 and abs(x.mean().item() - 0.5) < 0.02


def test_crop_boxes_respect_scale_ratio_and_bounds():
    r = torch.rand(4000, 22, generator=gen())
    x0, y0, w, h = crop_boxes(r, 40, 60, (0.2, 0.6), (0.5, 2.0))
    area = w * h / (40 * 60)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 60).all() and (y0 + h <= 40).all()
    assert area.min() > 0.17 and area.max() < 0.64
    assert (w / h).min() > 0.45 and (w / h).max() < 2.2


def test_impossible_boxes_fall_back_to_the_centre():
    r = torch.rand(10, 22, generator=gen())
    x0, y0, w, h = crop_boxes(r, 10, 100, (1.0, 1.0), (1.0, 1.0))  # square full-area box cannot fit
    assert (w == 10).all() and (h == 10).all() and (x0 == 45).all() and (y0 == 0).all()


def test_normalize_resizes_and_centre_crops():
    img = torch.zeros(1, 3, 20, 40, dtype=torch.uint8)
    img[..., 10:30] = 255
    x = unnorm(normalize(img, size=10))
    assert x.shape == (1, 3, 10, 10) and x.min() > 0.8  # the crop is the band; its edges see a little black
    assert torch.allclose(x[..., 1:-1], torch.ones(1, 3, 10, 8), atol=1e-5)
    y = normalize(img, mean=(0, 0, 0), std=(1, 1, 1))
    assert y.shape == (1, 3, 20, 40) and y.max() == 1.0


def test_multi_crop_global_views_first():
    img = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    g1, g2 = ViewConfig(32, scale=(0.4, 1), blur_p=1.0), ViewConfig(32, scale=(0.4, 1), solarize_p=0.2)
    views = multi_crop(img, [g1, g2], ViewConfig(16, scale=(0.05, 0.4)), n_global=2, n_local=3, generator=gen())
    assert [v.shape[-1] for v in views] == [32, 32, 16, 16, 16]
    again = multi_crop(img, [g1, g2], ViewConfig(16, scale=(0.05, 0.4)), n_global=2, n_local=3, generator=gen())
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))


def test_large_images_to_small_views_are_antialiased():
    img = torch.zeros(2, 3, 128, 128, dtype=torch.uint8)
    img[..., ::2] = 255  # finest stripes: aliasing would turn them into a solid or banded colour
    x = unnorm(augment(img, ViewConfig(16, scale=(0.8, 1.0), **PLAIN), gen()))
    assert abs(x.mean().item() - 0.5) < 0.1 and x.std() < 0.15
