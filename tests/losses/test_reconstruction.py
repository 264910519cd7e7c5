import torch

from ssl_core.losses import masked_l1


def test_masked_l1_counts_corrupted_pixels_only():
    target = torch.zeros(1, 3, 2, 2)
    pred = torch.zeros(1, 3, 2, 2)
    pred[0, :, 0, 0] = 2.0  # wrong by 2 on a corrupted pixel
    pred[0, :, 1, 1] = 5.0  # wrong on a clean pixel: ignored
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, :] = 1  # two corrupted pixels, 3 channels each
    assert masked_l1(pred, target, mask).item() == 2.0 * 3 / 6
    p = torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: masked_l1(x, target.double() + 0.5, mask), (p,))
