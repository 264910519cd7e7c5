import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.eval import color_position_descriptors, pixel_features


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
