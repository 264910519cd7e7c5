"""Linear probe: multinomial logistic regression on frozen, standardised features.

The L-BFGS variant of linear evaluation used for frozen features by Kornblith, Shlens, Le, "Do
Better ImageNet Models Transfer Better?" (CVPR 2019) and SimCLR's transfer experiments (Chen et
al. 2020): L2-regularised logistic regression, regularisation picked on a held-out split.
Loss on standardised features x_i with labels y_i:

    L(W, b) = 1/N sum_i -log softmax(W x_i + b)_{y_i} + weight_decay / 2 * ||W||_F^2,

minimised full-batch with L-BFGS (strong-Wolfe line search). The bias is not decayed.
"""

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval import _checks

WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
HELD_OUT = 0.2


def _standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Standardise with the mean and std of `train` (constant features are only centred)."""
    mean, std = train.mean(0), train.std(0, correction=0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return [(x - mean) / std for x in (train, *others)]


def _fit(x, y, num_classes: int, weight_decay: float, max_iter: int, init=None):
    """Minimise L(W, b) on standardised x with L-BFGS, from zeros or from init = (W, b)."""
    w = torch.zeros(x.shape[1], num_classes, device=x.device) if init is None else init[0].clone()
    b = torch.zeros(num_classes, device=x.device) if init is None else init[1].clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=10,
                            tolerance_grad=1e-6, tolerance_change=1e-9,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 0.5 * weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def _predict(x, wb) -> torch.Tensor:
    return (x @ wb[0] + wb[1]).argmax(1)


def linear_probe(train_feats, train_labels, test_feats, test_labels,
                 weight_decay: float | None = None, max_iter: int = 200, predictions: bool = False) -> dict:
    """Top-1 test accuracy of a linear probe, as {"accuracy": float, "weight_decay": float} (and, with
    `predictions`, "predictions": the predicted class of every test row).

    Features are standardised with the train mean and std. When weight_decay is None it is chosen
    from WEIGHT_DECAYS by accuracy on a fixed random 20% of train (ties go to the larger decay),
    then the probe is refitted on all of train. Float32 on the device of train_feats; works under
    torch.no_grad / inference_mode. 10k x 512 takes a few seconds on two CPU cores.
    """
    train = _checks.features(train_feats, "train_feats")
    test = _checks.features(test_feats, "test_feats").to(train.device)
    _checks.same_dim(train, test, "train_feats", "test_feats")
    y = _checks.labels(train_labels, train.shape[0], "train_labels", "train_feats").to(train.device)
    y_test = _checks.labels(test_labels, test.shape[0], "test_labels", "test_feats").to(y.device)
    if weight_decay is not None and not weight_decay >= 0:
        raise UserError(f"weight_decay must be >= 0 or None (choose on held-out data), "
                        f"got {weight_decay}.")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise UserError(f"max_iter must be a positive integer, got {max_iter!r}; try 200.")
    if weight_decay is None and train.shape[0] < 10:
        raise UserError(f"choosing weight_decay needs at least 10 train samples, got "
                        f"{train.shape[0]}; pass weight_decay explicitly (e.g. 1e-4).")
    num_classes = max(int(y.max()), int(y_test.max())) + 1

    # Autograd must run even when the caller is in no_grad or inference_mode (an eval hook).
    with torch.inference_mode(False), torch.enable_grad():
        train, test = train.clone(), test.clone()
        init = None
        if weight_decay is None:
            weight_decay, init = _choose_weight_decay(train, y, num_classes, max_iter)
        train, test = _standardise(train, test)
        wb = _fit(train, y, num_classes, weight_decay, max_iter, init)
    pred = _predict(test, wb)
    out = {"accuracy": (pred == y_test).float().mean().item(), "weight_decay": weight_decay}
    return {**out, "predictions": pred} if predictions else out


def _choose_weight_decay(x, y, num_classes: int, max_iter: int):
    """The decay in WEIGHT_DECAYS with the best accuracy on a seeded 20% held out of train, and
    its weights. The grid is walked from the largest decay down, each fit warm-started from the
    previous one (a regularisation path), which saves L-BFGS iterations."""
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    n_val = max(1, int(HELD_OUT * x.shape[0]))
    x_fit, x_val = _standardise(x[perm[n_val:]], x[perm[:n_val]])
    y_fit, y_val = y[perm[n_val:]], y[perm[:n_val]]
    best, best_acc, wb = None, -1.0, None
    for wd in sorted(WEIGHT_DECAYS, reverse=True):  # ties keep the larger decay
        wb = _fit(x_fit, y_fit, num_classes, wd, max_iter, wb)
        acc = (_predict(x_val, wb) == y_val).float().mean().item()
        if acc > best_acc:
            best, best_acc = (wd, wb), acc
    return best
