import torch

from ssl_core.data.bss import (
    batch_styles_standardization,
    bss_normalized,
    low_frequency_mask,
)


def test_bss_gives_every_image_the_source_amplitude():
    torch.manual_seed(0)
    x = 0.5 + 0.02 * torch.randn(4, 3, 16, 16)  # small contrast: nothing is clamped
    y = batch_styles_standardization(x, ratio=1.0, source=2)
    torch.testing.assert_close(y[2], x[2], atol=1e-5, rtol=0)
    amp = torch.fft.fft2(y).abs()
    torch.testing.assert_close(amp, amp[2:3].expand_as(amp), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.fft.fft2(y).angle()[0], torch.fft.fft2(x).angle()[0], atol=1e-3, rtol=0)


def test_bss_low_frequencies_only():
    torch.manual_seed(0)
    x = 0.5 + 0.02 * torch.randn(3, 3, 16, 16)
    y = batch_styles_standardization(x, ratio=0.1, source=0)
    m = low_frequency_mask(16, 16, 0.1)
    assert 0 < m.sum() < 0.2 * 256
    fx = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1)).abs()
    fy = torch.fft.fftshift(torch.fft.fft2(y, norm="ortho"), dim=(-2, -1)).abs()
    torch.testing.assert_close(fy[..., ~m], fx[..., ~m], atol=1e-4, rtol=1e-4)  # high frequencies kept
    torch.testing.assert_close(fy[1][..., m], fx[0][..., m], atol=1e-4, rtol=1e-4)  # low ones from the source
    # the mean colour (the DC term) becomes the source's
    torch.testing.assert_close(y.mean((2, 3)), x[:1].mean((2, 3)).expand(3, 3), atol=1e-4, rtol=0)


def test_bss_normalized_round_trip_and_range():
    x = torch.rand(4, 3, 8, 8) * 4 - 2
    y = bss_normalized(x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.isfinite(y).all()
