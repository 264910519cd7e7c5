"""Input checks shared by the eval functions: each failure is one `UserError` line with the remedy."""

import torch

from ssl_core.errors import UserError


def features(x, name: str) -> torch.Tensor:
    """A (N, D) floating tensor with N >= 1, returned detached as float32."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"{name} must be a torch.Tensor of shape (N, D), got {type(x).__name__}; "
                        "convert it with torch.as_tensor.")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"{name} must have shape (N, D) with N, D >= 1, got {tuple(x.shape)}; "
                        "flatten each sample's features into one row.")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int8, torch.int16,
                                                 torch.int32, torch.int64)):
        raise UserError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    x = x.detach().float()
    if not torch.isfinite(x).all():
        raise UserError(f"{name} holds NaN or inf values; the model that produced them has "
                        "probably diverged: check its checkpoint or lower the learning rate.")
    return x


def labels(y, n: int, name: str, feats_name: str) -> torch.Tensor:
    """A (n,) tensor of non-negative integer class ids, returned as int64."""
    if not isinstance(y, torch.Tensor):
        raise UserError(f"{name} must be a torch.Tensor of shape (N,), got {type(y).__name__}; "
                        "convert it with torch.as_tensor.")
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"{name} has shape {tuple(y.shape)} but {feats_name} has {n} rows; "
                        f"pass one class id per row of {feats_name}.")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise UserError(f"{name} must hold integer class ids, got dtype {y.dtype}; "
                        "map class names to 0..C-1 first.")
    if n and int(y.min()) < 0:
        raise UserError(f"{name} holds a negative class id ({int(y.min())}); "
                        "class ids must be 0..C-1.")
    return y.detach().long()


def same_dim(a: torch.Tensor, b: torch.Tensor, a_name: str, b_name: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise UserError(f"{a_name} has {a.shape[1]} dimensions but {b_name} has {b.shape[1]}; "
                        "extract both with the same model and layer.")


def images_uint8(x, name: str = "images_uint8") -> torch.Tensor:
    """A (N, 3, H, W) uint8 tensor."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"{name} must be a uint8 torch.Tensor (N, 3, H, W), got {got}; "
                        "decode images to uint8 (0..255) first.")
    if x.ndim != 4 or x.shape[1] != 3 or min(x.shape) == 0:
        raise UserError(f"{name} must have shape (N, 3, H, W) with N, H, W >= 1, got "
                        f"{tuple(x.shape)}; put channels first (permute(0, 3, 1, 2)) and use RGB.")
    return x
