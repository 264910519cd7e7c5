"""Device and precision choice, in one place: CUDA, then Apple MPS, then the CPU; bfloat16 autocast
where the hardware runs it fast (it about doubles ViT speed on CPUs with AVX512-BF16 or AMX)."""

import contextlib
from functools import lru_cache

import torch

from ssl_core.errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("CUDA was asked for but no CUDA GPU is visible: use --device auto or cpu")
    return device


@lru_cache(maxsize=None)
def _cpu_has_fast_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(dtype: str, device: torch.device) -> bool:
    """Whether to train/infer under bfloat16 autocast: 'bf16', 'fp32' or 'auto' (where it is fast)."""
    if dtype != "auto":
        return dtype == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_fast_bf16()


def autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
