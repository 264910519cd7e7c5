"""Batch Styles Standardization (Scalbert, Vakalopoulou, Couzinie-Devy, "Towards domain-invariant
Self-Supervised Learning with Batch Styles Standardization", ICLR 2024, sec. 3 and Fig. 1).

The "style" of an image is the low-frequency part of its Fourier amplitude; the content lives in
the phase. BSS transfers the style of one randomly chosen image to every image of a batch of views,
so the negatives a contrastive method compares share one style and style cannot separate them
(each view batch gets its own style, so positives still differ in style).
"""

import torch

from ssl_core.data.augment import IMAGENET_MEAN, IMAGENET_STD
from ssl_core.distributed import gather_inputs, rank_world


def low_frequency_mask(h: int, w: int, ratio: float, device=None) -> torch.Tensor:
    """(h, w) bool: the centred square of low frequencies (after fftshift) covering `ratio` of the area."""
    side_h, side_w = max(1, round(h * ratio ** 0.5)), max(1, round(w * ratio ** 0.5))
    mask = torch.zeros(h, w, dtype=torch.bool, device=device)
    top, left = h // 2 - side_h // 2, w // 2 - side_w // 2
    mask[top: top + side_h, left: left + side_w] = True
    return mask


def batch_styles_standardization(x: torch.Tensor, ratio: float = 0.1, generator: torch.Generator | None = None,
                                 source: int | None = None) -> torch.Tensor:
    """Float images (B, C, H, W) in [0, 1] -> the same images in one shared style, clamped to [0, 1].

        A_i, P_i = |F(x_i)|, angle(F(x_i)) (per channel, fftshift-ed),
        A'_i = M * A_s + (1 - M) * A_i,  x'_i = F^-1(A'_i exp(j P_i)),
    with s one image drawn from the batch (or `source`) and M the centred low-frequency square of
    area fraction `ratio` (ratio = 1 replaces the whole amplitude). Under torchrun s is drawn from the
    global batch, whose images are gathered, so every rank uses the style one process would have used.
    """
    B, _, H, W = x.shape
    world = rank_world()[1]
    if source is None:
        source = int(torch.randint(B * world, (1,), generator=generator, device=x.device).item())
    style = gather_inputs(x)[source: source + 1] if world > 1 else x[source: source + 1]
    spectrum = lambda t: torch.fft.fftshift(torch.fft.fft2(t.float(), norm="ortho"), dim=(-2, -1))
    f = spectrum(x)
    amp, phase = f.abs(), f.angle()
    m = low_frequency_mask(H, W, ratio, x.device)
    amp = torch.where(m, spectrum(style).abs(), amp)
    f = torch.polar(amp, phase)
    out = torch.fft.ifft2(torch.fft.ifftshift(f, dim=(-2, -1)), norm="ortho").real
    return out.clamp(0, 1).to(x.dtype)


def bss_normalized(x: torch.Tensor, ratio: float = 0.1, generator: torch.Generator | None = None,
                   mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """BSS on a normalised view batch (as `augment` returns): undo the normalisation, standardise, redo it."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (batch_styles_standardization(x * s + m, ratio, generator) - m) / s
