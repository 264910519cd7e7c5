import functools

import torch


def full_precision(fn):
    """Run a loss outside autocast: under bfloat16 autocast its matmuls (cross-correlations, similarity
    logits) would round to 3 significant digits. Inputs are upcast inside each loss."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        device = next((a.device.type for a in args if torch.is_tensor(a)), "cpu")
        with torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)
    return wrapper
