"""Batched augmentations on the training device: uint8 (B, 3, H, W) in, normalised float views out.

Reference libraries augment image by image in PIL on CPU workers. Here a whole batch is cropped,
resized and flipped by one `affine_grid` + `grid_sample`, and colour jitter, grayscale, blur and
solarisation are a few batched tensor ops with per-sample parameters. Every random number comes
from one `torch.rand` call on the given generator, so a step is reproducible from (seed, step); under
torchrun that call draws the global batch's numbers and keeps this rank's rows (`sharded_rand`).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ssl_core.distributed import sharded_rand

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}  # as checkpoints store it
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL and torchvision grayscale
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
YIQ_TO_RGB = torch.linalg.inv(torch.tensor(RGB_TO_YIQ, dtype=torch.float64)).float()
TRIES = 10  # crop-box attempts per sample, as torchvision's RandomResizedCrop


@dataclass
class ViewConfig:
    """How one view is made (defaults: SimCLR / BYOL's recipe at the chosen size)."""

    size: int  # output side
    scale: tuple[float, float] = (0.08, 1.0)  # random resized crop: area fraction of the image
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # and aspect ratio (w / h)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1  # fraction of a full turn of hue
    gray_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # in output pixels
    solarize_p: float = 0.0
    strength: float = 1.0  # scales every jitter magnitude and gray_p (a classroom slider): 0 = no colour changes


def _to_float(images: torch.Tensor) -> torch.Tensor:
    dtype = torch.get_default_dtype()  # float32, or float64 in a run checking exactness (dtype fp64)
    return images.to(dtype).div_(255) if images.dtype == torch.uint8 else images.to(dtype)


def _normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def normalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD, size: int | None = None) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> normalised float32, no augmentation (for evaluation and feature extraction).

    With `size`, the shorter side is resized to it (bilinear, antialiased) and the centre cropped.
    """
    x = _to_float(images)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        H, W = x.shape[-2:]
        s = size / min(H, W)
        h, w = max(size, round(H * s)), max(size, round(W * s))
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        top, left = (h - size) // 2, (w - size) // 2
        x = x[..., top: top + size, left: left + size]
    return _normalise(x, mean, std)


def crop_boxes(r: torch.Tensor, H: int, W: int, scale, ratio) -> tuple[torch.Tensor, ...]:
    """Random resized crop boxes (x0, y0, w, h) in pixels from uniforms r (B, 2 * TRIES + 2).

    torchvision's sampler, vectorised: TRIES (area, log-ratio) draws per sample, keep the first
    box that fits, else fall back to the centre crop at the nearest allowed ratio.
    """
    area = scale[0] + (scale[1] - scale[0]) * r[:, :TRIES]
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * r[:, TRIES: 2 * TRIES])
    w = torch.sqrt(area * H * W * aspect).round()
    h = torch.sqrt(area * H * W / aspect).round()
    fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # index of the first box that fits
    w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], fits.any(1)
    # Fallback: the whole image, trimmed to the nearest allowed aspect ratio, centred.
    fw, fh = W, H
    if W / H < ratio[0]:
        fh = round(W / ratio[0])
    elif W / H > ratio[1]:
        fw = round(H * ratio[1])
    w, h = torch.where(found, w, fw), torch.where(found, h, fh)
    x0 = torch.where(found, torch.floor(r[:, -2] * (W - w + 1)), (W - w) // 2)
    y0 = torch.where(found, torch.floor(r[:, -1] * (H - h + 1)), (H - h) // 2)
    return x0, y0, w, h


def _color_matrix(sat: torch.Tensor, hue: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
    """Per-sample 3x3 colour matrices: saturation, then hue, then grayscale, in one product.

    Saturation blends with the luma grey; hue is a rotation of the chroma plane (I, Q) in YIQ, which
    keeps luma and is linear, unlike torchvision's HSV shift; grayscale replaces RGB by luma.
    """
    dev, B = sat.device, sat.shape[0]
    eye = torch.eye(3, device=dev).expand(B, 3, 3)
    grey = torch.tensor(LUMA, device=dev).expand(3, 3)  # each row = luma weights
    m = sat.view(B, 1, 1) * eye + (1 - sat).view(B, 1, 1) * grey
    to_yiq = torch.tensor(RGB_TO_YIQ, device=dev)
    c, s = torch.cos(hue), torch.sin(hue)
    rot = torch.zeros(B, 3, 3, device=dev)
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = 1, c, -s, s, c
    m = YIQ_TO_RGB.to(dev, m.dtype) @ rot @ to_yiq @ m
    return torch.where(gray.view(B, 1, 1), grey @ m, m)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per sample, as two grouped convolutions over B*3 channels.

    The kernel spans ~10% of the side (odd), as in SimCLR; sigma ~ 0 gives the identity.
    """
    B, C, H, W = x.shape
    k = max(3, int(0.1 * min(H, W)) // 2 * 2 + 1)
    t = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    g = torch.exp(-(t**2) / (2 * sigma.view(B, 1) ** 2))
    g = (g / g.sum(1, keepdim=True)).repeat_interleave(C, 0)  # (B*C, k)
    y = F.pad(x.reshape(1, B * C, H, W), (k // 2,) * 4, mode="reflect")
    y = F.conv2d(y, g.view(B * C, 1, k, 1), groups=B * C)
    y = F.conv2d(y, g.view(B * C, 1, 1, k), groups=B * C)
    return y.view(B, C, H, W)


def augment(images: torch.Tensor, cfg: ViewConfig, generator: torch.Generator | None = None,
            mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """One augmented view of each image: uint8 (B, 3, H, W) -> normalised float32 (B, 3, size, size).

    Order (fixed, unlike torchvision's random jitter order): random resized crop + flip, brightness,
    contrast, saturation, hue, grayscale, Gaussian blur, solarisation (invert where >= 0.5), normalise.
    Values are clamped to [0, 1] after brightness, contrast, and the saturation-hue-grayscale matrix.
    """
    B, _, H, W = images.shape
    dev, S = images.device, cfg.size
    r = sharded_rand(B, 2 * TRIES + 12, generator=generator, device=dev)  # every random number of the call
    u_flip, u_jitter, u_bright, u_contrast, u_sat, u_hue, u_gray, u_blur, u_sigma, u_sol = r[:, 2 * TRIES + 2:].unbind(1)
    x = _to_float(images)

    # Crop + resize + flip: one affine sampling grid per sample (align_corners=False: pixel edges map
    # to box edges, so a full-image box at the same size reproduces the image exactly).
    x0, y0, w, h = crop_boxes(r[:, : 2 * TRIES + 2], H, W, cfg.scale, cfg.ratio)
    flip = torch.where(u_flip < cfg.flip_p, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w / W * flip, (2 * x0 + w) / W - 1
    theta[:, 1, 1], theta[:, 1, 2] = h / H, (2 * y0 + h) / H - 1
    # grid_sample does not antialias: when even the smallest possible box is much larger than the
    # output, shrink the whole batch first (boxes are in normalised coordinates, so they still hold).
    smallest = math.sqrt(cfg.scale[0] * H * W * min(cfg.ratio[0], 1 / cfg.ratio[1]))
    if smallest > 1.5 * S:
        f = smallest / S
        x = F.interpolate(x, size=(round(H / f), round(W / f)), mode="bilinear", antialias=True, align_corners=False)
    grid = F.affine_grid(theta, [B, 3, S, S], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Colour jitter with per-sample factors; samples without jitter get neutral ones.
    on = u_jitter < cfg.jitter_p
    factor = lambda m, u: torch.where(on, 1 + m * (2 * u - 1), 1.0).clamp_min(0)
    s = cfg.strength
    x = (x * factor(cfg.brightness * s, u_bright).view(B, 1, 1, 1)).clamp_(0, 1)
    c = factor(cfg.contrast * s, u_contrast).view(B, 1, 1, 1)
    grey_mean = torch.einsum("bchw,c->b", x, torch.tensor(LUMA, device=dev)).view(B, 1, 1, 1) / (S * S)
    x = (c * x + (1 - c) * grey_mean).clamp_(0, 1)
    hue = torch.where(on, 2 * math.pi * cfg.hue * s * (2 * u_hue - 1), 0.0)
    gray = u_gray < cfg.gray_p * min(s, 1.0)
    m = _color_matrix(factor(cfg.saturation * s, u_sat), hue, gray)
    x = torch.bmm(m, x.reshape(B, 3, S * S)).view(B, 3, S, S).clamp_(0, 1)

    if cfg.blur_p > 0:
        lo, hi = cfg.blur_sigma
        sigma = torch.where(u_blur < cfg.blur_p, (lo + (hi - lo) * u_sigma).clamp_min(1e-3), 1e-3)
        x = _blur(x, sigma)
    if cfg.solarize_p > 0:
        sol = (u_sol < cfg.solarize_p).view(B, 1, 1, 1)
        x = torch.where(sol & (x >= 0.5), 1 - x, x)
    return _normalise(x, mean, std)


def multi_crop(images: torch.Tensor, global_cfg: ViewConfig | list[ViewConfig], local_cfg: ViewConfig,
               n_global: int = 2, n_local: int = 6, generator: torch.Generator | None = None,
               mean=IMAGENET_MEAN, std=IMAGENET_STD) -> list[torch.Tensor]:
    """DINO's multi-crop: `n_global` large views (cycling through `global_cfg` when it is a list, as
    DINO's two differently blurred globals), then `n_local` small ones. Global views come first."""
    cfgs = global_cfg if isinstance(global_cfg, list | tuple) else [global_cfg]
    views = [augment(images, cfgs[i % len(cfgs)], generator, mean, std) for i in range(n_global)]
    return views + [augment(images, local_cfg, generator, mean, std) for _ in range(n_local)]
