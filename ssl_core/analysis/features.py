"""Run a backbone over images in batches, and cache a checkpoint's features of a dataset on disk.

The cache key is the checkpoint's content hash, the data spec, split, limit, resolution and layer, so
embeddings, probes and dictionaries never re-run the model for the same question, and a retrained
checkpoint at the same path is never served stale features.
"""

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ssl_core.data import load_data, normalize
from ssl_core.data.cache import cache_dir
from ssl_core.devices import autocast, pick_device, use_bf16


@torch.no_grad()
def extract(backbone, images: torch.Tensor, normalization: dict, patches: bool = False, batch_size: int = 256,
            layer: int = -1, device=None, bf16: bool = False, progress=None):
    """Features of `images` (N, 3, H, W) uint8: CLS/pooled (N, D) float32, and with `patches` also the
    patch grid (N, h, w, D). Images are used at their own size (already the model's, in a dataset).
    `progress(fraction)` is called after each batch."""
    device = device or next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    cls_out, patch_out = [], []
    for i in range(0, len(images), batch_size):
        x = normalize(images[i:i + batch_size].to(device), normalization["mean"], normalization["std"])
        with autocast(device, bf16):
            cls, grid = backbone.features(x, layer)
        cls_out.append(cls.float().cpu())
        if patches:
            patch_out.append(grid.float().cpu())
        if progress:
            progress(min(1.0, (i + batch_size) / len(images)))
    backbone.train(was_training)
    cls = torch.cat(cls_out) if cls_out else torch.empty(0)
    return (cls, torch.cat(patch_out)) if patches else cls


@lru_cache(maxsize=64)
def _digest(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path) -> str:
    """SHA-1 of a file's content (memoised per path, mtime and size)."""
    st = os.stat(path)
    return _digest(str(Path(path).resolve()), st.st_mtime, st.st_size)


def dataset_features(checkpoint, data: str, split: str = "train", limit: int | None = None, layer: int = -1,
                     patches: bool = False, device: str = "auto", progress=None) -> dict:
    """{"cls", "patches" (if asked), "labels", "names", "class_names", "factors", "arch"} for a checkpoint on a dataset,
    from the disk cache when this exact question was asked before."""
    from ssl_core.models.checkpoint import load_model

    checkpoint = Path(checkpoint)
    key = hashlib.sha1(json.dumps([file_digest(checkpoint), data, split, limit, layer, patches]).encode()).hexdigest()
    path = cache_dir().parent / "features" / f"{key}.safetensors"
    if path.exists():
        try:
            tensors = load_file(str(path))
            info = json.loads(open(path.with_suffix(".json")).read())
            return {**tensors, **info}
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    dev = pick_device(device)
    model, meta = load_model(checkpoint, dev)
    images = load_data(data, split, meta["arch"]["img_size"], limit)
    out = extract(model, images.images, meta["normalization"], patches=patches, layer=layer, device=dev,
                  bf16=use_bf16("auto", dev), progress=progress)
    tensors = {"cls": out[0] if patches else out, "labels": images.labels}
    if patches:
        tensors["patches"] = out[1]
    info = {"names": images.names, "class_names": images.class_names, "factors": images.factors,
            "arch": meta["arch"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    path.with_suffix(".json").write_text(json.dumps(info))
    os.replace(tmp, path)  # the tensors land last: their presence means the entry is complete
    return {**tensors, **info}
