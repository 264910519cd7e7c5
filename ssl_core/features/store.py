"""The one feature-file layout, and the on-disk cache of a model's features of a dataset.

A feature file is one `.safetensors` file:
- tensors: one per token kind it holds (`cls`, `mean`: (N, D); `patch`, `keys`: (N, h, w, D)), float32 or
  bfloat16 as extracted; `labels` int64 (N,) (-1 where unknown); `factor.NAME` int64 (N,) codes of each
  scene factor;
- metadata (JSON values): `format` ("ssl-lab-features/1"), `names` (one per image), `class_names`,
  `vocab` ({factor: its values}) and `source`: the checkpoint's file name and SHA-1 (or "random-init"),
  its arch, the data spec, split and limit, the layer, the dtype, the input size and the images used.

The cache holds one file per (model content, data content, layer, token kind, precision), so the same
question never runs the model twice, and neither a retrained checkpoint at the same path nor an edited image
folder is ever served stale features. `python -m ssl_core features` writes the same layout.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ssl_core.data import data_plan
from ssl_core.data.cache import cache_dir
from ssl_core.devices import pick_device, use_bf16
from ssl_core.errors import UserError
from ssl_core.features.extract import TOKENS, extract
from ssl_core.files import atomic_write, file_digest
from ssl_core.models import random_init
from ssl_core.models.checkpoint import load_model, model_meta

FORMAT = "ssl-lab-features/1"
VERSION = 1  # bump when extraction changes, so old cache entries are not served


@dataclass
class Features:
    """A dataset's features through one model, with everything needed to read them."""

    tensors: dict[str, torch.Tensor]  # token kind -> features
    labels: torch.Tensor
    names: list[str]
    class_names: list[str] = field(default_factory=list)
    codes: dict[str, torch.Tensor] = field(default_factory=dict)  # factor -> int64 (N,)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, kind: str) -> torch.Tensor:
        if kind not in self.tensors:
            raise UserError(f"these features hold {', '.join(self.tensors) or 'no tokens'}, not {kind!r}: "
                            f"export them with `python -m ssl_core features --tokens {kind}`")
        return self.tensors[kind]

    @property
    def labelled(self) -> bool:
        return bool((self.labels >= 0).any())

    def pooled(self, pool: str = "cls") -> torch.Tensor:
        """One float32 vector per image: the CLS token, or the mean of the patch tokens."""
        if pool == "mean" and "mean" not in self.tensors and "patch" in self.tensors:
            return self.tensors["patch"].float().mean(dim=(1, 2))
        return self[pool].float()

    def merged(self, other: "Features") -> "Features":
        return Features({**self.tensors, **other.tensors}, self.labels, self.names, self.class_names, self.codes,
                        self.vocab, self.source)


def save_features(path, f: Features) -> Path:
    tensors = {**{k: v.contiguous() for k, v in f.tensors.items()}, "labels": f.labels.contiguous(),
               **{f"factor.{k}": v.contiguous() for k, v in f.codes.items()}}
    meta = {"format": FORMAT, "names": f.names, "class_names": f.class_names, "vocab": f.vocab, "source": f.source}
    metadata = {k: json.dumps(v) for k, v in meta.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_features(path) -> Features:
    """A feature file (this layout) with one-line errors for anything else."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no feature file at {path}: write one with `python -m ssl_core features`")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
            meta = {k: json.loads(v) for k, v in raw.items()}
            if meta.get("format") != FORMAT:
                raise UserError(f"{path.name} is not a feature file: write one with `python -m ssl_core features`")
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RecursionError) as e:
        raise UserError(f"{path.name} is not a readable feature file ({str(e).splitlines()[0][:100]})") from None
    labels = tensors.pop("labels", None)
    codes = {k.removeprefix("factor."): tensors.pop(k) for k in list(tensors) if k.startswith("factor.")}
    kinds = {k: v for k, v in tensors.items() if k in TOKENS}
    names = meta.get("names") or []
    if labels is None or not kinds or not len(labels):
        raise UserError(f"{path.name} holds no features: export them again with `python -m ssl_core features`")
    lengths = {len(labels), len(names), *(len(v) for v in kinds.values()), *(len(v) for v in codes.values())}
    if len(lengths) != 1:
        raise UserError(f"{path.name} is inconsistent (its tensors and names disagree on the number of images): "
                        "export it again")
    return Features(kinds, labels, names, meta.get("class_names") or [], codes, meta.get("vocab") or {},
                    meta.get("source") or {})


def _entry(key: list) -> Path:
    digest = hashlib.sha1(json.dumps([VERSION, *key], default=str).encode()).hexdigest()
    return cache_dir().parent / "features" / f"{digest}.safetensors"


def dataset_features(checkpoint, data: str, split: str = "train", limit: int | None = None, layer: int = -1,
                     tokens=("cls",), dtype: str = "fp32", device: str = "auto", random_init_twin: bool = False,
                     progress=None) -> Features:
    """The features of `data` through a checkpoint (or, with `random_init_twin`, through the random-init
    network of its architecture), from the cache when this exact question was asked before.

    Only the token kinds that are missing are extracted, in one pass over the data, and each is cached.
    `dtype` is fp32 (exact), bf16, or auto (bf16 where the hardware runs it fast).
    """
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise UserError(f"no checkpoint file at {checkpoint}: give the path of a .safetensors or .pth file")
    tokens = tuple(dict.fromkeys(tokens))
    meta = model_meta(checkpoint)
    dev = pick_device(device)
    bf16 = use_bf16(dtype, dev)
    identity = ["random-init", meta["arch"]] if random_init_twin else [file_digest(checkpoint)]
    # The data by its content, not its spec: an edited folder or a changed built-in is never served the features
    # of the images it held before.
    content, load_images = data_plan(data, split, meta["arch"].get("img_size"), limit)
    keys = {t: _entry([*identity, content, layer, t, bf16]) for t in tokens}
    found = {}
    for t, path in keys.items():
        if path.exists():
            try:
                found[t] = load_features(path)
            except UserError:
                pass  # a damaged entry is recomputed
    missing = [t for t in tokens if t not in found]
    if missing:
        model, meta = load_model(checkpoint, dev)
        if random_init_twin:
            model = random_init(meta["arch"]).to(dev)
        images = load_images()
        out = extract(model, images.images, meta["normalization"], tokens=missing, layer=layer, device=dev, bf16=bf16,
                      progress=progress)
        source = {"checkpoint": checkpoint.name, "sha1": identity[0] if not random_init_twin else "random-init",
                  "arch": meta["arch"], "data": data, "split": split, "limit": limit, "layer": layer,
                  "dtype": "bf16" if bf16 else "fp32", "size": images.size, "images": len(images),
                  "skipped": images.skipped, "pool": meta.get("pool", "cls"), "normalization": meta["normalization"]}
        for t in missing:
            found[t] = Features({t: out[t]}, images.labels, images.names, images.class_names, dict(images.codes),
                                {k: list(v) for k, v in images.vocab.items()}, source)
            try:
                save_features(keys[t], found[t])
            except OSError:  # a read-only or full disk: the cache only saves time
                pass
    first = found[tokens[0]]
    for t in tokens[1:]:
        first = first.merged(found[t])
    return first


def cache_size() -> int:
    """Bytes the feature cache holds now."""
    folder = cache_dir().parent / "features"
    return sum(p.stat().st_size for p in folder.glob("*.safetensors")) if folder.exists() else 0

