"""The SAE file: one checkpoint of the one format (`ssl_core.models.checkpoint`) with `kind` "sae", an `arch`
that rebuilds the autoencoder ({"name": "sae", d_in, width, variant, k, l1, aux_k}), the `source` of its
features (checkpoint file and SHA-1, data, split, layer, token kind, dtype) and its final metrics."""

from pathlib import Path

from ssl_core.data import IMAGENET
from ssl_core.errors import UserError
from ssl_core.models.checkpoint import read_checkpoint, save_checkpoint
from ssl_core.sae.model import SparseAutoencoder


def save_sae(path, task, meta: dict) -> Path:
    """An SAE file from a trained `ssl_core.methods.sae.SAETask`: the autoencoder's tensors only (no optimiser
    state), with its metadata (the images' normalisation is the one its features were extracted with)."""
    tensors = {f"model.sae.{k}": v for k, v in task.sae.state_dict().items()}
    normalization = task.source.get("normalization") or IMAGENET
    return save_checkpoint(path, tensors, {"normalization": normalization, **meta, **task.checkpoint_meta()})


def load_sae(path) -> tuple[SparseAutoencoder, dict]:
    """(the SAE in eval mode, its metadata) from an SAE file (or a training checkpoint of an SAE run)."""
    tensors, meta = read_checkpoint(path)
    arch = meta.get("arch") or {}
    if meta.get("kind") != "sae" or arch.get("name") != "sae":
        raise UserError(f"{Path(path).name} is not a sparse autoencoder: train one with `python -m ssl_core sae train`")
    try:
        d_in, width = int(arch["d_in"]), int(arch["width"])
        if not (1 <= d_in <= 1 << 14 and 1 <= width <= 1 << 20 and d_in * width <= 1 << 28):
            raise ValueError(f"a {d_in} x {width} autoencoder is out of range")
        sae = SparseAutoencoder(d_in, width, arch["variant"], int(arch["k"]), float(arch["l1"]), int(arch["aux_k"]),
                                dead_window=int(arch.get("dead_window", 100_000)))
        state = {k[len("model.sae."):]: v for k, v in tensors.items() if k.startswith("model.sae.")}
        sae.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise UserError(f"{Path(path).name} has a damaged SAE description ({str(e).splitlines()[0][:80]})") from None
    return sae.eval(), meta
