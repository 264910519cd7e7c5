"""The one container every dataset turns into: a uint8 image tensor and what we know about each image."""

from dataclasses import dataclass

import numpy as np
import torch


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

    def __len__(self) -> int:
        return len(self.labels)

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
