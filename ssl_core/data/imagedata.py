"""The containers every dataset turns into, and the batches they yield.

`ImageData` holds uint8 images and what we know about each; `TensorData` holds aligned tensors of any
other kind (input vectors of the shortcut study, feature tokens for sparse autoencoders). Both give the
trainer the same thing: `batch(idx)`, a dict of aligned tensors:

- `images` uint8 (B, 3, H, W) or `inputs` float (B, D): what the model reads;
- `labels` int64 (B,), -1 where unknown; `index` int64 (B,): the rows' positions in the dataset;
- `masks` uint8 (B, H, W) instance ids, where the data has them;
- `factors` {name: int64 (B,)}: the scene factors as codes into `ImageData.vocab`.
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from ssl_core.data import shapes


@dataclass
class ImageData:
    """Images decoded once at the training resolution, with labels, masks and factors kept aligned.

    uint8 keeps CIFAR-10 train at 150 MB, small enough to live on the training device, where the
    batched augmentations turn it into float views.
    """

    images: torch.Tensor  # uint8 (N, 3, H, W), H == W == size
    labels: torch.Tensor  # int64 (N,), -1 where unlabelled
    class_names: list[str]  # index -> name; [] when unlabelled
    names: list[str]  # per image: relative file path, or e.g. "shapes/train/000123"
    masks: torch.Tensor | None = None  # uint8 (N, H, W) instance ids, 0 = background
    semantic: torch.Tensor | None = None  # uint8 (N, H, W) class id + 1, 0 = background (shapes only)
    factors: list[list[dict]] | None = None  # shapes only: per image, one dict per object, main first
    skipped: int = 0  # unreadable files skipped while decoding
    source: str = ""  # the spec it came from
    available: int = 0  # folders: how many images the split holds, before a `limit` took some
    key: str = ""  # what the pixels depend on (the data cache's key): names this data in the feature cache

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def codes(self) -> dict[str, torch.Tensor]:
        """{factor: int64 (N,)} codes of the scene factors (shapes only; {} otherwise)."""
        if not self.factors:
            return {}
        return {k: torch.from_numpy(v) for k, v in shapes.factor_codes(self.factors).items()}

    @property
    def vocab(self) -> dict[str, tuple[str, ...]]:
        """{factor: its values}, the names `codes` index."""
        return {k: shapes.VOCAB[k] for k in self.codes}

    def batch(self, idx: torch.Tensor) -> dict:
        """The rows at `idx` (an int64 tensor) as a batch dict (see the module docstring)."""
        idx = idx.to(self.images.device)
        b = {"images": self.images[idx], "labels": self.labels.to(idx.device)[idx], "index": idx}
        if self.masks is not None:
            b["masks"] = self.masks.to(idx.device)[idx]
        if self.codes:
            b["factors"] = {k: v.to(idx.device)[idx] for k, v in self.codes.items()}
        return b

    @property
    def labelled(self) -> bool:
        return bool((self.labels >= 0).any())

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    def subset(self, idx) -> "ImageData":
        """The images at `idx` (indices or a boolean mask), every field kept aligned."""
        t = torch.as_tensor(np.asarray(idx) if isinstance(idx, list | range) else idx)
        t = t.nonzero().flatten() if t.dtype == torch.bool else t.long().flatten()
        rows = t.tolist()
        pick = lambda x: None if x is None else x[t]
        return ImageData(
            images=self.images[t], labels=self.labels[t], class_names=list(self.class_names),
            names=[self.names[i] for i in rows], masks=pick(self.masks), semantic=pick(self.semantic),
            factors=None if self.factors is None else [self.factors[i] for i in rows],
            skipped=self.skipped, source=self.source,
        )

    @classmethod
    def concat(cls, parts: list["ImageData"]) -> "ImageData":
        """Several datasets of one size end to end (the `all` split: train, then test)."""
        cat = lambda key: None if any(getattr(p, key) is None for p in parts) else torch.cat([getattr(p, key) for p in parts])
        names = list(dict.fromkeys(n for p in parts for n in p.class_names))
        relabel = [torch.tensor([names.index(n) for n in p.class_names] + [-1], dtype=torch.int64) for p in parts]
        labels = torch.cat([r[p.labels] for p, r in zip(parts, relabel, strict=True)])  # -1 indexes the -1
        factors = None if any(p.factors is None for p in parts) else [f for p in parts for f in p.factors]
        return cls(images=cat("images"), labels=labels, class_names=names, names=[n for p in parts for n in p.names],
                   masks=cat("masks"), semantic=cat("semantic"), factors=factors,
                   skipped=sum(p.skipped for p in parts), source=parts[0].source)

    def __repr__(self) -> str:
        extra = "".join(f", {k}" for k in ("masks", "semantic", "factors") if getattr(self, k) is not None)
        return (f"ImageData({len(self)} images of {self.size} px, {len(self.class_names)} classes{extra}, "
                f"skipped={self.skipped}, source={self.source!r})")


def balanced_pick(labels, limit: int, seed: int = 0) -> list[int]:
    """Indices of a fair subset of `limit` items: shuffle, then deal classes round-robin.

    Each item's rank among its own class (after a seeded shuffle) decides the order, so the first
    `limit` hold about limit / n_classes of every class. Returned sorted, so the subset keeps the
    original order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if limit >= n:
        return list(range(n))
    perm = np.random.default_rng(seed).permutation(n)
    rank = np.empty(n, np.int64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        rank[members] = np.arange(len(members))
    order = np.lexsort((np.argsort(perm), rank))  # by rank within class, ties by shuffled position
    return sorted(order[:limit].tolist())


@dataclass
class TensorData:
    """Aligned tensors of any kind (`inputs` float (N, D), `labels` int64 (N,), ...), batched like ImageData."""

    tensors: dict[str, torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    @property
    def labels(self) -> torch.Tensor:
        return self.tensors.get("labels", torch.full((len(self),), -1, dtype=torch.int64))

    @property
    def labelled(self) -> bool:
        return bool((self.labels >= 0).any())

    def batch(self, idx: torch.Tensor) -> dict:
        return {**{k: v[idx.to(v.device)] for k, v in self.tensors.items()}, "index": idx}

    def subset(self, idx) -> "TensorData":
        idx = torch.as_tensor(idx, dtype=torch.int64)
        return TensorData({k: v[idx] for k, v in self.tensors.items()}, list(self.class_names), self.source)
