"""Data and measurement of the synthetic shortcut-bias study.

After Hermann, Mobahi, Fel, Mozer, "On the Foundations of Shortcut Learning" (ICLR 2024). Two
latent features, a core z_c and a shortcut z_s, each with

* a predictivity rho_i = P(sign z_i = y), and
* an availability: how easily a model reads it, set by an amplification alpha_i (the scale of its
  signal in the input) and a nesting depth eta_i (how many random nonlinear layers lie between the
  latent and the input).

Latents (paper): y uniform in {-1, +1}, and given y, independently for i in {c, s},

    z_i ~ N(mu_i * y, 1),   so   P(sign z_i = y) = Phi(mu_i),   mu_i = Phi^{-1}(rho_i).

Bayes-optimal classifier (paper: linear discriminant analysis on the latents): with equal priors
and identity covariance it is  y_Bayes(z) = sign(mu_c z_c + mu_s z_s).

Reliance and shortcut bias. The paper reads a model's decisions y_M in {-1, +1} on a uniform grid
over latent space (about +-3 mu_i per axis, not on training-like data) and defines shortcut bias
as the model's reliance on z_s (beyond z_c) in excess of the Bayes classifier's. The exact
formulas are OURS (the paper's full text was not available):

    reliance(M) = |E_grid[y_M sign(z_s)]| - |E_grid[y_M sign(z_c)]|      in [-1, 1],
    bias(M)     = reliance(M) - reliance(Bayes)                          in [-2, 2].

Note the range of the bias: each reliance lies in [-1, 1], so their difference can reach +-2 (a
shortcut-only model against a Bayes rule that nearly ignores a weak shortcut gives about +1.8).

Also OURS where the paper is silent: the input construction (`embed`), the cap on mu for rho = 1
(`MU_MAX`), the grid resolution and its minimum half-width (`latent_grid`), and tie-breaking.
Everything is a deterministic function of a `LatentSpec`, whose integer seed feeds independent
numpy streams (`numpy.random.SeedSequence` spawn keys) for the maps, the reference sample and the
train and test splits.
"""

import math
import numbers
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from ssl_core.errors import UserError

MU_MAX = 4.0  # ours: rho above Phi(4) = 0.99997 (rho = 1 included) gets mu = 4
MAX_NEST = 4
GRID_SIGMAS = 3.0  # grid half-width in units of mu_i (paper: "about +-3 mu_i")
GRID_MIN_HALF_WIDTH = 3.0  # ours: so a nearly useless feature (mu ~ 0) still spans +-3
GRID_N = 60  # ours: points per axis (even, so that no grid point has z_i = 0)
N_REFERENCE = 4096  # ours: latent sample that standardises a nested map's output
CORE_RHO = 0.9
CORE_ALPHA = 1.0

# Spawn keys of the independent random streams derived from LatentSpec.seed.
_KEY_DIRECTIONS, _KEY_LAYERS, _KEY_REFERENCE, _KEY_TRAIN, _KEY_TEST = range(5)
_SPLIT_KEYS = {"train": _KEY_TRAIN, "test": _KEY_TEST}


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class LatentSpec:
    """One setting of the study: predictivity, availability, input size and sample sizes.

    Defaults follow the paper's reported setting (d = 100, rho_c = 0.9, 3,200 training
    examples); rho_shortcut = 0.9 (equal predictivity, so the Bayes reliance is 0 and any bias
    is due to availability), n_test = 1000 and seed = 0 are ours. Constructing a spec validates
    it (`validate`), so every LatentSpec in hand is usable.
    """

    rho_core: float = CORE_RHO
    rho_shortcut: float = 0.9
    alpha_core: float = CORE_ALPHA
    alpha_shortcut: float = 1.0
    nest_core: int = 0
    nest_shortcut: int = 0
    dim: int = 100
    n_train: int = 3200
    n_test: int = 1000
    seed: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise UserError (one line) on the first bad field.

        Predictivity in (0.5, 1]: 0.5 would make the feature carry no label information; 1 is
        allowed and mapped to mu = MU_MAX (see `mu_from_rho`). Amplification strictly positive
        (ours): alpha = 0 would remove the feature from the input altogether, which is a
        different experiment, and makes the availability ratio undefined. Nesting an integer
        0..4, dim >= 2 (the two features need two directions), n_train >= 10, n_test >= 1,
        seed a non-negative integer.
        """
        for name in ("rho_core", "rho_shortcut"):
            v = getattr(self, name)
            if not _is_real(v) or not 0.5 < v <= 1.0:
                raise UserError(f"{name} must be a predictivity in (0.5, 1], got {v!r}; "
                                "use e.g. 0.9 (0.5 would carry no label information).")
        for name in ("alpha_core", "alpha_shortcut"):
            v = getattr(self, name)
            if not _is_real(v) or v <= 0:
                raise UserError(f"{name} must be an amplification > 0, got {v!r}; "
                                "use e.g. 1 (a smaller value makes the feature less available).")
        for name in ("nest_core", "nest_shortcut"):
            v = getattr(self, name)
            if not _is_int(v) or not 0 <= v <= MAX_NEST:
                raise UserError(f"{name} must be a nesting depth, an integer 0..{MAX_NEST}, "
                                f"got {v!r}; use 0 for a linear embedding.")
        if not _is_int(self.dim) or self.dim < 2:
            raise UserError(f"dim must be an integer >= 2, got {self.dim!r}; use e.g. 100.")
        if not _is_int(self.n_train) or self.n_train < 10:
            raise UserError(f"n_train must be an integer >= 10, got {self.n_train!r}; "
                            "use e.g. 3200.")
        if not _is_int(self.n_test) or self.n_test < 1:
            raise UserError(f"n_test must be an integer >= 1, got {self.n_test!r}; "
                            "use e.g. 1000.")
        if not _is_int(self.seed) or self.seed < 0:
            raise UserError(f"seed must be a non-negative integer, got {self.seed!r}; "
                            "use e.g. 0.")


def mu_from_rho(rho: float) -> float:
    """Class-mean offset of a latent with predictivity rho: mu = Phi^{-1}(rho) (paper).

    P(sign z = y) = P(N(mu, 1) > 0) = Phi(mu). Phi^{-1}(1) is infinite, so (ours) mu is capped
    at MU_MAX = 4: rho = 1 behaves as rho = Phi(4) = 0.99997, i.e. about 0.1 disagreeing signs
    among 3,200 training examples. The data, the Bayes rule and the grid all use the capped mu.
    """
    if not _is_real(rho) or not 0.5 < rho <= 1.0:
        raise UserError(f"rho must be a predictivity in (0.5, 1], got {rho!r}; use e.g. 0.9.")
    if rho >= NormalDist().cdf(MU_MAX):
        return MU_MAX
    return NormalDist().inv_cdf(rho)


def latent_means(spec: LatentSpec) -> tuple[float, float]:
    """(mu_c, mu_s) of the spec: mu_i = Phi^{-1}(rho_i), capped at MU_MAX."""
    return mu_from_rho(spec.rho_core), mu_from_rho(spec.rho_shortcut)


def availability_ratio(spec: LatentSpec) -> float:
    """Amplification ratio alpha_s / alpha_c (the nesting depths are reported separately)."""
    return spec.alpha_shortcut / spec.alpha_core


def _rng(spec: LatentSpec, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=key))


def _directions(spec: LatentSpec) -> torch.Tensor:
    """Orthonormal u_c, u_s in R^dim (columns), from a Gaussian (dim, 2) matrix by QR."""
    q, _ = np.linalg.qr(_rng(spec, _KEY_DIRECTIONS).standard_normal((spec.dim, 2)))
    return torch.from_numpy(q)


def _layers(spec: LatentSpec, feature: int, depth: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Weights and biases of the random map g_i; layer k has its own stream, so a depth-k map is
    the first k layers of any deeper one with the same seed."""
    layers = []
    for k in range(depth):
        rng = _rng(spec, _KEY_LAYERS, feature, k)
        fan_in = 1 if k == 0 else spec.dim
        w = rng.standard_normal((fan_in, spec.dim)) * (1.0 if k == 0 else 2.0 / math.sqrt(fan_in))
        b = rng.standard_normal(spec.dim) * (1.0 if k == 0 else 0.5)
        layers.append((torch.from_numpy(w), torch.from_numpy(b)))
    return layers


def _mlp(layers, z: torch.Tensor) -> torch.Tensor:
    h = z[:, None]
    for w, b in layers:
        h = torch.tanh(h @ w + b)
    return h


def _latent_draw(rng: np.random.Generator, mu: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice(np.array([-1, 1]), size=n)
    return mu * y[:, None] + rng.standard_normal((n, mu.size)), y


def _embed_feature(spec: LatentSpec, feature: int, z: torch.Tensor) -> torch.Tensor:
    """alpha_i z_i u_i (depth 0), or the standardised random MLP alpha_i * g_i(z_i) (depth > 0)."""
    alpha = (spec.alpha_core, spec.alpha_shortcut)[feature]
    depth = (spec.nest_core, spec.nest_shortcut)[feature]
    if depth == 0:
        return alpha * z[:, None] * _directions(spec)[:, feature]
    mu = latent_means(spec)[feature]
    layers = _layers(spec, feature, depth)
    ref, _ = _latent_draw(_rng(spec, _KEY_REFERENCE, feature), np.array([mu]), N_REFERENCE)
    h_ref = _mlp(layers, torch.from_numpy(ref[:, 0]))
    mean = h_ref.mean(0)
    rms = (h_ref - mean).pow(2).sum(1).mean().sqrt()  # sqrt E||g - m||^2 over the reference
    # E||alpha z u||^2 = alpha^2 (1 + mu^2) at depth 0; the nested map gets the same power.
    return alpha * math.sqrt(1.0 + mu * mu) * (_mlp(layers, z) - mean) / rms


def embed(spec: LatentSpec, z) -> torch.Tensor:
    """Input x in R^dim of latents z, shape (N, 2): column 0 core, column 1 shortcut.

    x = x_c + x_s, no input noise (ours: x is a deterministic function of (spec, z), so the same
    map serves the training data and the grid). Per feature (ours, the paper gives no formula):

    * eta_i = 0:  x_i = alpha_i z_i u_i, with u_c, u_s a random orthonormal pair in R^dim;
    * eta_i > 0:  x_i = alpha_i sqrt(1 + mu_i^2) (g_i(z_i) - m_i) / s_i, where g_i is a fixed
      random MLP R -> R^dim of eta_i tanh layers,
          h_1 = tanh(w_1 z + b_1),            w_1, b_1 ~ N(0, 1)             (R -> R^dim),
          h_k = tanh(W_k h_{k-1} + b_k),      W_k ~ N(0, 4 / dim), b_k ~ N(0, 0.25),
      and m_i, s_i^2 are the mean and the mean squared distance to it, E||g_i - m_i||^2, of
      g_i over a reference sample of N_REFERENCE latents z_i ~ N(mu_i y, 1) (own seed stream).
      So at every depth E||x_i||^2 = alpha_i^2 (1 + mu_i^2), and the same alpha means the same
      signal power; only the shape of the map changes. (Gain 2 keeps every layer in tanh's
      nonlinear range.)

    Returns float32 (N, dim); computed in float64.
    """
    z = torch.as_tensor(z, dtype=torch.float64)
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] < 1:
        raise UserError(f"embed needs latents of shape (N, 2) (core, shortcut), got "
                        f"{tuple(z.shape)}; use sample() or latent_grid() to make them.")
    if not torch.isfinite(z).all():
        raise UserError("embed got non-finite latents; pass finite (N, 2) values.")
    x = _embed_feature(spec, 0, z[:, 0]) + _embed_feature(spec, 1, z[:, 1])
    return x.float()


def sample(spec: LatentSpec, n: int | None = None, split: str = "train"):
    """(z, y, x) for n examples of a split: z (n, 2) float32, y (n,) int64 in {-1, +1}, x = embed.

    n defaults to spec.n_train or spec.n_test. The train and test splits draw from independent
    streams of spec.seed, so they never repeat each other; the maps in `embed` are shared. For
    class indices {0, 1} use (y > 0).long().
    """
    if split not in _SPLIT_KEYS:
        raise UserError(f"split must be 'train' or 'test', got {split!r}.")
    if n is None:
        n = spec.n_train if split == "train" else spec.n_test
    if not _is_int(n) or n < 1:
        raise UserError(f"n must be a positive integer, got {n!r}; use e.g. {spec.n_train}.")
    z, y = _latent_draw(_rng(spec, _SPLIT_KEYS[split]), np.array(latent_means(spec)), n)
    z = torch.from_numpy(z).float()
    return z, torch.from_numpy(y).long(), embed(spec, z)


def bayes_decision(spec: LatentSpec, z) -> torch.Tensor:
    """Bayes-optimal decisions sign(mu_c z_c + mu_s z_s) in {-1, +1}, int64 (N,).

    LDA on the latents in closed form (equal priors, identity class covariance, means
    +-(mu_c, mu_s)): the log-odds are 2 (mu_c z_c + mu_s z_s). The closed form is used, not a
    fit on samples: it is exact and the samples are drawn from that very model. Ties (score 0)
    go to +1 (ours).
    """
    z = torch.as_tensor(z, dtype=torch.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise UserError(f"bayes_decision needs latents of shape (N, 2), got {tuple(z.shape)}.")
    mu_c, mu_s = latent_means(spec)
    score = mu_c * z[:, 0] + mu_s * z[:, 1]
    return torch.where(score >= 0, 1, -1).long()


def bayes_accuracy(spec: LatentSpec) -> float:
    """Theoretical accuracy of the Bayes rule: Phi(sqrt(mu_c^2 + mu_s^2)).

    mu_c z_c + mu_s z_s given y is N(y (mu_c^2 + mu_s^2), mu_c^2 + mu_s^2).
    """
    mu_c, mu_s = latent_means(spec)
    return NormalDist().cdf(math.hypot(mu_c, mu_s))


def latent_grid(spec: LatentSpec, n: int = GRID_N) -> torch.Tensor:
    """Uniform n x n grid over [-H_c, H_c] x [-H_s, H_s], as (n * n, 2) float32 latents.

    H_i = max(3 mu_i, 3) (paper: about +-3 mu_i; the minimum half-width 3 is ours, so that a
    nearly useless feature, mu ~ 0, still spans the range of its noise). n must be even (ours,
    default 60): the axis points are then symmetric about 0 and none has z_i = 0, so sign(z_i)
    is always +-1. Row-major: reshape to (n, n, 2) gives [i, j] = (core_i, shortcut_j).
    """
    if not _is_int(n) or n < 2 or n % 2:
        raise UserError(f"grid size n must be an even integer >= 2, got {n!r}; use e.g. "
                        f"{GRID_N} (even, so no grid point lies on an axis).")
    axes = [torch.linspace(-h, h, n, dtype=torch.float64)
            for h in (max(GRID_SIGMAS * mu, GRID_MIN_HALF_WIDTH) for mu in latent_means(spec))]
    zc, zs = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([zc.reshape(-1), zs.reshape(-1)], dim=1).float()


def _decisions(d, n: int, name: str) -> torch.Tensor:
    d = torch.as_tensor(d)
    if d.ndim != 1 or d.shape[0] != n:
        raise UserError(f"{name} must be a vector of {n} decisions (one per grid point), "
                        f"got shape {tuple(d.shape)}.")
    if not ((d == 1) | (d == -1)).all():
        raise UserError(f"{name} must hold -1/+1 decisions; map class indices c in {{0, 1}} "
                        "with 2 * c - 1.")
    return d.long()


def reliance(decisions, z_grid) -> float:
    """Reliance on the shortcut beyond the core (ours; the paper's idea, our formula):

        reliance(M) = |E_grid[y_M sign(z_s)]| - |E_grid[y_M sign(z_c)]|      in [-1, 1].

    +1 for sign(z_s), -1 for sign(z_c), 0 for a rule symmetric in the two (normalised) axes.
    For a linear rule sign(a u + b v) on the square of normalised latents u, v in [-1, 1] it is
    b/a - 1 when b <= a (and 1 - a/b otherwise). Sums are exact integer counts.
    """
    z = torch.as_tensor(z_grid)
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] < 1:
        raise UserError(f"z_grid must be latents of shape (N, 2), got {tuple(z.shape)}; "
                        "use latent_grid().")
    y = _decisions(decisions, z.shape[0], "decisions")
    s_core, s_short = torch.sign(z[:, 0]).long(), torch.sign(z[:, 1]).long()
    n = z.shape[0]
    return abs(int((y * s_short).sum())) / n - abs(int((y * s_core).sum())) / n


def shortcut_bias(model_decisions, bayes_decisions, z_grid) -> float:
    """Shortcut bias (ours): reliance(M) - reliance(Bayes), in [-2, 2]; > 0 over-relies on z_s."""
    return reliance(model_decisions, z_grid) - reliance(bayes_decisions, z_grid)


def sweep_specs(alpha_ratios, rho_shortcuts, *, nest_core: int = 0, nest_shortcut: int = 0,
                dim: int = 100, n_train: int = 3200, n_test: int = 1000,
                seed: int = 0) -> list[LatentSpec]:
    """Specs for every (alpha_s / alpha_c, rho_s), ratio-major, core fixed at alpha_c = 1,
    rho_c = 0.9. All share the seed, so the maps and noise streams are common random numbers
    across the sweep (ours)."""
    ratios, rhos = list(alpha_ratios), list(rho_shortcuts)
    if not ratios or not rhos:
        raise UserError("sweep_specs needs at least one alpha ratio and one shortcut "
                        "predictivity; pass e.g. [1, 2, 4] and [0.7, 0.9].")
    return [LatentSpec(rho_core=CORE_RHO, rho_shortcut=rho, alpha_core=CORE_ALPHA,
                       alpha_shortcut=ratio, nest_core=nest_core, nest_shortcut=nest_shortcut,
                       dim=dim, n_train=n_train, n_test=n_test, seed=seed)
            for ratio in ratios for rho in rhos]
