"""Weighted k-nearest-neighbour classification of frozen features.

Wu, Xiong, Yu, Lin, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
CVPR 2018, sec. 3.4 (weighted kNN): the k nearest training samples N_k of a test sample, by
cosine similarity s_i, vote for their class c_i with weight exp(s_i / T),

    w_c = sum_{i in N_k, c_i = c} exp(s_i / T),      prediction = argmax_c w_c,

as in DINO's `eval_knn.py` (k = 20 and 200, T = 0.07 there, 0.1 in lightly and here).
"""

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval import _checks


def _check(train_feats, train_labels, test_feats, ks: tuple, temperature, chunk):
    train = _checks.features(train_feats, "train_feats")
    test = _checks.features(test_feats, "test_feats")
    _checks.same_dim(train, test, "train_feats", "test_feats")
    labels = _checks.labels(train_labels, train.shape[0], "train_labels", "train_feats")
    if not ks or any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ks):
        shown = ks[0] if len(ks) == 1 else ks
        raise UserError(f"k must be a positive integer, got {shown!r}; try k=20 or 200.")
    if not temperature > 0:
        raise UserError(f"temperature must be > 0, got {temperature}; try 0.1 (DINO uses 0.07).")
    if not isinstance(chunk, int) or chunk < 1:
        raise UserError(f"chunk must be a positive integer, got {chunk!r}; try 1024.")
    return train, labels, test


def cosine_topk(queries: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 1024, self_offset: int | None = None,
                self_value: float = float("-inf")) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices (M, k) of the k bank rows most similar to each query, most similar
    first: the one chunked cosine top-k (kNN, the UMAP graph, neighbours on the map).

    Memory is chunk x N_bank floats at a time (1024 x 50,000 is 200 MB), on the bank's device. With
    `self_offset`, query i is bank row self_offset + i, and that entry's similarity is set to `self_value`
    (-inf leaves the point out of its own neighbours; 2 puts it first).
    """
    bank = F.normalize(bank.float(), dim=1)
    sims, idx = [], []
    for start in range(0, queries.shape[0], chunk):
        q = F.normalize(queries[start:start + chunk].float().to(bank.device), dim=1)
        s = q @ bank.T
        if self_offset is not None:
            rows = torch.arange(s.shape[0], device=s.device)
            s[rows, rows + self_offset + start] = self_value
        top_s, top_i = s.topk(k, dim=1)
        sims.append(top_s)
        idx.append(top_i)
    return torch.cat(sims), torch.cat(idx)


def vote(sims, neighbour_labels, temperature: float, num_classes: int) -> torch.Tensor:
    """Argmax over classes of sum exp(s / T) (Wu et al. 2018). Shifting s by its row maximum
    before exp leaves the argmax unchanged and keeps exp finite for small T."""
    w = ((sims - sims[:, :1]) / temperature).exp()
    votes = torch.zeros(sims.shape[0], num_classes, device=sims.device, dtype=sims.dtype)
    votes.scatter_add_(1, neighbour_labels, w)
    return votes.argmax(dim=1)


def knn_predict(train_feats, train_labels, test_feats, k: int = 200, temperature: float = 0.1,
                num_classes: int | None = None, chunk: int = 1024) -> torch.Tensor:
    """Weighted kNN predictions (Wu et al. 2018, sec. 3.4; DINO's eval_knn) for each test row.

    train_feats (N, D), train_labels (N,) integer ids in 0..C-1, test_feats (M, D); features are
    L2-normalised here, so any scale works. A k larger than the bank is clamped to N (a small
    classroom bank is a normal case, not an error). num_classes defaults to max(train_labels) + 1.
    Float32 math on the device of train_feats. Returns predicted labels (M,) as int64 on that device.
    """
    train, labels, test = _check(train_feats, train_labels, test_feats, (k,), temperature, chunk)
    labels = labels.to(train.device)
    num_classes = _num_classes(labels, num_classes)
    sims, idx = cosine_topk(test, train, min(k, train.shape[0]), chunk)
    return vote(sims, labels[idx], temperature, num_classes)


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, ks=(20, 200),
                 temperature: float = 0.1) -> dict[int, float]:
    """Top-1 accuracy of `knn_predict` for each k in ks, as {k: accuracy in [0, 1]}.

    The similarity top-k is computed once for max(ks) and sliced for smaller k (top-k is sorted).
    Each k larger than the bank is clamped to N, but keeps its requested key in the result.
    """
    ks = (ks,) if isinstance(ks, int) else tuple(ks)
    train, labels, test = _check(train_feats, train_labels, test_feats, ks, temperature, 1024)
    test_labels = _checks.labels(test_labels, test.shape[0], "test_labels", "test_feats")
    labels, test_labels = labels.to(train.device), test_labels.to(train.device)
    num_classes = max(int(labels.max()), int(test_labels.max())) + 1
    kmax = min(max(ks), train.shape[0])
    sims, idx = cosine_topk(test, train, kmax)
    neighbour_labels = labels[idx]
    out = {}
    for k in ks:
        kk = min(k, kmax)
        pred = vote(sims[:, :kk], neighbour_labels[:, :kk], temperature, num_classes)
        out[k] = (pred == test_labels).float().mean().item()
    return out


def _num_classes(labels: torch.Tensor, num_classes: int | None) -> int:
    needed = int(labels.max()) + 1
    if num_classes is None:
        return needed
    if num_classes < needed:
        raise UserError(f"num_classes={num_classes} but train_labels holds class id {needed - 1}; "
                        f"pass num_classes >= {needed} or leave it None.")
    return num_classes
