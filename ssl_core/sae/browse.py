"""A dictionary applied to a dataset: what the feature browser, `sae top` and the comparison read.

`apply(sae, features)` runs the SAE over a feature file's tokens once and keeps, per image, each latent's
largest activation (`image_max`), plus each latent's firing density and peak over all tokens. From it:
the top images of a latent and its heatmap over an image's patches, the latents that fire on one patch,
which data factor a latent tracks (precision, recall and F1 of "fires on the image" against each factor
value), a latent switched off or scaled on an image (steering), and what a reconstruction keeps of the
features' use (kNN and linear-probe accuracy on reconstructed features beside the originals).

For the supervised comparison (`object_tokens`), a patch carries its image's factors only where it lies on
the main object (at least half covered by its mask); a CLS token carries its image's factors.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.eval.knn import knn_accuracy
from ssl_core.eval.linear import linear_probe
from ssl_core.sae.metrics import density_histogram, firing_f1
from ssl_core.sae.model import SparseAutoencoder

BATCH = 8192


def token_grid(features, kind: str) -> torch.Tensor:
    """The feature file's tokens of `kind` as (N, h, w, D) (a CLS token is a 1 x 1 grid)."""
    x = features[kind].float()
    return x if x.ndim == 4 else x[:, None, None, :]


def check_width(sae: SparseAutoencoder, x: torch.Tensor, what: str = "these features") -> None:
    if x.shape[-1] != sae.d_in:
        raise UserError(f"{what} are {x.shape[-1]}-dimensional but the SAE reads {sae.d_in}: use the features of "
                        "the checkpoint and layer it was trained on")


@torch.no_grad()
def encode_dense(sae: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """(T, W) activations of raw tokens (T, D), in eval mode."""
    was = sae.training
    sae.eval()
    out = torch.cat([sae(sae.standardise(c)).dense() for c in x.split(BATCH)]) if len(x) else x.new_zeros(0, sae.width)
    sae.train(was)
    return out


@dataclass
class Dictionary:
    sae: SparseAutoencoder
    features: object  # ssl_core.features.Features
    kind: str  # "patch" or "cls"
    image_max: torch.Tensor  # (N, W): each latent's largest activation on each image
    density: torch.Tensor  # (W,): fraction of tokens on which each latent fires
    peak: torch.Tensor  # (W,): each latent's largest activation

    @property
    def grid(self) -> torch.Tensor:
        return token_grid(self.features, self.kind)

    def order(self, by: str = "density") -> list[int]:
        """Latent ids, most frequent (or strongest) first; dead latents (never firing) last."""
        key = self.density if by == "density" else self.peak
        return torch.argsort(key, descending=True).tolist()

    def top_images(self, j: int, k: int = 12) -> list[int]:
        self._check(j)
        acts = self.image_max[:, j]
        top = torch.argsort(acts, descending=True)[:k]
        return [int(i) for i in top if acts[i] > 0]

    def heatmap(self, image: int, j: int) -> np.ndarray:
        """(h, w) activation of latent j on each patch of an image."""
        self._check(j)
        g = self.grid[image]
        return encode_dense(self.sae, g.reshape(-1, g.shape[-1]))[:, j].reshape(g.shape[:2]).numpy()

    def at_patch(self, image: int, row: int, col: int, n: int = 10) -> list[tuple[int, float]]:
        """The latents that fire on one patch, strongest first: [(latent, activation)]."""
        acts = encode_dense(self.sae, self.grid[image, row, col][None])[0]
        top = torch.argsort(acts, descending=True)[:n]
        return [(int(j), float(acts[j])) for j in top if acts[j] > 0]

    def tracks(self, codes: dict[str, torch.Tensor], vocab: dict[str, list[str]]) -> list[dict]:
        """Per latent, the factor value its firing (on an image) classifies best: name, value, P, R, F1."""
        fires = self.image_max > 0
        best = [{"factor": None, "value": None, "precision": 0.0, "recall": 0.0, "f1": 0.0} for _ in range(fires.shape[1])]
        for name, c in codes.items():
            p, r, f = firing_f1(fires, c.long(), len(vocab[name]))
            v = f.argmax(1)
            for j in range(fires.shape[1]):
                if f[j, v[j]] > best[j]["f1"]:
                    best[j] = {"factor": name, "value": vocab[name][int(v[j])], "precision": float(p[j, v[j]]),
                               "recall": float(r[j, v[j]]), "f1": float(f[j, v[j]])}
        return best

    def histogram(self, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """The log10 firing-density histogram of the live latents: (counts, bin edges)."""
        counts, edges = density_histogram(self.density, bins=bins)
        return np.asarray(counts), np.asarray(edges)

    def _check(self, j: int) -> None:
        if not 0 <= j < self.sae.width:
            raise UserError(f"feature {j} does not exist: this dictionary has features 0..{self.sae.width - 1}")


@torch.no_grad()
def apply(sae: SparseAutoencoder, features, kind: str) -> Dictionary:
    """The SAE over every token of a feature file, summarised per image (see the module docstring)."""
    grid = token_grid(features, kind)
    check_width(sae, grid)
    n, h, w, d = grid.shape
    tokens = grid.reshape(-1, d)
    image_max = torch.zeros(n * sae.width)
    fired = torch.zeros(sae.width)
    peak = torch.zeros(sae.width)
    per_image = h * w
    was = sae.training
    sae.eval()
    for start in range(0, len(tokens), BATCH):
        out = sae(sae.standardise(tokens[start:start + BATCH]))
        acts = out.dense().float()
        img = torch.arange(start, start + len(acts)) // per_image
        flat = (img[:, None] * sae.width + torch.arange(sae.width)[None]).reshape(-1)
        image_max.scatter_reduce_(0, flat, acts.reshape(-1), reduce="amax")
        fired += (acts > 0).float().sum(0)
        peak = torch.maximum(peak, acts.max(0).values)
    sae.train(was)
    return Dictionary(sae, features, kind, image_max.view(n, sae.width), fired / max(1, len(tokens)), peak)


def steer(sae: SparseAutoencoder, tokens: torch.Tensor, j: int, scale: float) -> torch.Tensor:
    """Tokens (..., D) with latent j's contribution scaled: x' = x + (scale - 1) * z_j(x) * scale_sae * d_j
    (scale 0 switches it off; 2 doubles it), in the model's own units, leaving the SAE's error untouched."""
    shape = tokens.shape
    x = tokens.reshape(-1, shape[-1]).float()
    z = encode_dense(sae, x)[:, j]
    column = sae.W_dec.detach()[:, j].float() * sae.scale
    return (x + (scale - 1) * z[:, None] * column[None]).reshape(shape)


@torch.no_grad()
def reconstruct(sae: SparseAutoencoder, grid: torch.Tensor) -> torch.Tensor:
    """Every token of a (N, h, w, D) grid through the SAE, in the model's units."""
    was = sae.training
    sae.eval()
    x = grid.reshape(-1, grid.shape[-1])
    out = torch.cat([sae.unstandardise(sae(sae.standardise(c)).x_hat) for c in x.split(BATCH)])
    sae.train(was)
    return out.reshape(grid.shape)


def kept_use(sae: SparseAutoencoder, train, test, kind: str) -> dict:
    """kNN (k = 20) and linear-probe accuracy of the images' embeddings (the CLS token, or the mean of the
    patch tokens) built from the original features and from their SAE reconstruction, on the labels."""
    if not (train.labelled and test.labelled):
        raise UserError("kept use needs labelled images: the scenes, or a folder of class sub-folders")
    out = {}
    for name, fn in (("original", lambda g: g), ("reconstructed", lambda g: reconstruct(sae, g))):
        a, b = (fn(token_grid(f, kind)).mean(dim=(1, 2)) for f in (train, test))
        out[name] = {"knn": knn_accuracy(a, train.labels, b, test.labels, (20,))[20],
                     "linear": linear_probe(a, train.labels, b, test.labels)["accuracy"]}
    return out


def object_tokens(features, kind: str, masks: torch.Tensor | None) -> tuple[torch.Tensor, dict, dict]:
    """(tokens (T, D), codes {factor: (T,)}, vocab) for the supervised comparison: the patch tokens that lie
    on the main object (>= half of the patch, from the masks) with that image's factors; CLS tokens with
    theirs; a labelled folder's tokens with its labels."""
    grid = token_grid(features, kind)
    n, h, w, d = grid.shape
    codes = dict(features.codes) or ({"label": features.labels} if features.labelled else {})
    vocab = dict(features.vocab) if features.codes else {"label": list(features.class_names)}
    if not codes:
        raise UserError("a supervised dictionary needs factors or labels: use the scenes or a folder of classes")
    keep = torch.ones(n, h, w, dtype=torch.bool)
    if kind == "patch" and masks is not None:
        cover = F.adaptive_avg_pool2d((masks == 1).float()[:, None], (h, w))[:, 0]
        keep = cover >= 0.5
    image = torch.arange(n)[:, None, None].expand(n, h, w)[keep]
    return grid[keep], {k: v.long()[image] for k, v in codes.items()}, vocab
