"""Checks of the synthetic shortcut-bias data and its measurement (ssl_core.probe.latent)."""

import math
from dataclasses import replace
from statistics import NormalDist

import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.probe import (
    MU_MAX,
    LatentSpec,
    availability_ratio,
    bayes_accuracy,
    bayes_decision,
    embed,
    latent_grid,
    latent_means,
    mu_from_rho,
    reliance,
    sample,
    shortcut_bias,
    sweep_specs,
)

torch.set_num_threads(1)


def _bayes_reliance(spec, n=60):
    grid = latent_grid(spec, n)
    return reliance(bayes_decision(spec, grid), grid)


def _ridge_decisions(x_train, y_train, x_eval, lam=1e-3):
    """Closed-form least squares (tiny ridge: x spans only 2 of its dims) of y on [x, 1]."""
    a = torch.cat([x_train.double(), torch.ones(len(x_train), 1, dtype=torch.float64)], 1)
    w = torch.linalg.solve(a.T @ a + lam * torch.eye(a.shape[1], dtype=torch.float64),
                           a.T @ y_train.double())
    b = torch.cat([x_eval.double(), torch.ones(len(x_eval), 1, dtype=torch.float64)], 1)
    return torch.where(b @ w >= 0, 1, -1)


# --- latents -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rho", [0.55, 0.7, 0.9, 0.99])
def test_empirical_predictivity_matches_rho(rho):
    spec = LatentSpec(rho_core=rho, rho_shortcut=0.6)
    n = 20000
    z, y, _ = sample(spec, n, "test")
    tol = 4 * math.sqrt(rho * (1 - rho) / n)
    assert (torch.sign(z[:, 0]) == y).double().mean().item() == pytest.approx(rho, abs=tol)
    assert (torch.sign(z[:, 1]) == y).double().mean().item() == pytest.approx(0.6, abs=0.014)


def test_labels_are_balanced_and_latents_independent_given_y():
    z, y, _ = sample(LatentSpec(), 20000, "test")
    assert y.dtype == torch.long and set(y.unique().tolist()) == {-1, 1}
    assert (y == 1).double().mean().item() == pytest.approx(0.5, abs=0.015)
    mu_c, mu_s = latent_means(LatentSpec())
    eps = z.double() - torch.tensor([mu_c, mu_s], dtype=torch.float64) * y[:, None]
    cov = torch.cov(eps.T)
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64), atol=0.04)


def test_rho_one_is_capped_at_mu_max():
    assert mu_from_rho(1.0) == MU_MAX
    assert mu_from_rho(0.9) == pytest.approx(1.2815516, abs=1e-6)
    assert mu_from_rho(0.99) < MU_MAX
    z, y, _ = sample(LatentSpec(rho_shortcut=1.0), 20000, "test")
    assert (torch.sign(z[:, 1]) == y).double().mean().item() >= 0.999


# --- Bayes rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("rho_c, rho_s", [(0.9, 0.9), (0.9, 0.6), (0.7, 0.95), (0.9, 1.0)])
def test_bayes_rule_reaches_theoretical_accuracy(rho_c, rho_s):
    spec = LatentSpec(rho_core=rho_c, rho_shortcut=rho_s)
    z, y, _ = sample(spec, 20000, "test")
    expected = NormalDist().cdf(math.hypot(*latent_means(spec)))
    assert bayes_accuracy(spec) == pytest.approx(expected)
    acc = (bayes_decision(spec, z) == y).double().mean().item()
    assert acc == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / 20000)
                                + 1e-4)


def test_bayes_rule_beats_either_feature_alone():
    spec = LatentSpec(rho_core=0.8, rho_shortcut=0.7)
    z, y, _ = sample(spec, 20000, "test")
    acc = (bayes_decision(spec, z) == y).double().mean().item()
    assert acc > (torch.sign(z[:, 0]) == y).double().mean().item() + 0.02


# --- reliance and bias on the grid -------------------------------------------------------------

def test_grid_shape_extent_and_no_zero_signs():
    spec = LatentSpec(rho_core=0.9, rho_shortcut=0.6)
    grid = latent_grid(spec, 40)
    assert grid.shape == (1600, 2)
    mu_c, _ = latent_means(spec)
    assert grid[:, 0].max().item() == pytest.approx(3 * mu_c, rel=1e-6)
    assert grid[:, 0].min().item() == pytest.approx(-3 * mu_c, rel=1e-6)
    assert grid[:, 1].abs().max().item() == pytest.approx(3.0)  # 3 mu_s < 3: minimum half-width
    assert (grid != 0).all()
    cells = grid.reshape(40, 40, 2)  # [i, j] = (core_i, shortcut_j)
    assert torch.equal(cells[:, 0, 0], cells[:, 5, 0])
    assert torch.equal(cells[0, :, 1], cells[7, :, 1])
    assert latent_grid(spec).shape == (60 * 60, 2)


def test_single_feature_rules_have_reliance_plus_and_minus_one():
    grid = latent_grid(LatentSpec())
    assert reliance(torch.sign(grid[:, 1]).long(), grid) == 1.0
    assert reliance(torch.sign(grid[:, 0]).long(), grid) == -1.0
    assert reliance(-torch.sign(grid[:, 1]).long(), grid) == 1.0  # |.|: an inverted reader too
    const = torch.ones(len(grid), dtype=torch.long)
    assert reliance(const, grid) == 0.0


def test_bayes_reliance_zero_when_equally_predictive():
    for rho in (0.6, 0.9, 1.0):
        assert _bayes_reliance(LatentSpec(rho_core=rho, rho_shortcut=rho)) == 0.0


@pytest.mark.parametrize("rho_s", [0.92, 0.97, 1.0])
def test_bayes_reliance_positive_when_shortcut_more_predictive(rho_s):
    assert _bayes_reliance(LatentSpec(rho_core=0.9, rho_shortcut=rho_s)) > 0.05


@pytest.mark.parametrize("rho_s", [0.55, 0.7, 0.85])
def test_bayes_reliance_negative_when_shortcut_less_predictive(rho_s):
    assert _bayes_reliance(LatentSpec(rho_core=0.9, rho_shortcut=rho_s)) < -0.05


@pytest.mark.parametrize("a, b", [(0.9, 0.6), (0.7, 0.95), (0.8, 1.0), (0.55, 0.99)])
def test_swapping_the_latents_flips_bayes_reliance_exactly(a, b):
    r_ab = _bayes_reliance(LatentSpec(rho_core=a, rho_shortcut=b))
    r_ba = _bayes_reliance(LatentSpec(rho_core=b, rho_shortcut=a))
    assert r_ab != 0.0
    assert r_ab == -r_ba


def test_bayes_reliance_matches_the_continuous_formula():
    # On the normalised square the Bayes rule is sign(a u + b v), a = mu_c H_c, b = mu_s H_s,
    # whose reliance is b / a - 1 for b <= a; the 200-point grid approximates it.
    for rho_s in (0.6, 0.75, 0.85):
        spec = LatentSpec(rho_core=0.9, rho_shortcut=rho_s)
        (mu_c, mu_s), h = latent_means(spec), lambda mu: max(3 * mu, 3)
        k = (mu_s * h(mu_s)) / (mu_c * h(mu_c))
        assert _bayes_reliance(spec, 200) == pytest.approx(k - 1, abs=0.02)


def test_bias_of_bayes_against_itself_is_zero_and_bias_is_reliance_difference():
    spec = LatentSpec(rho_core=0.9, rho_shortcut=0.7)
    grid = latent_grid(spec)
    bayes = bayes_decision(spec, grid)
    assert shortcut_bias(bayes, bayes, grid) == 0.0
    short = torch.sign(grid[:, 1]).long()
    assert shortcut_bias(short, bayes, grid) == pytest.approx(1.0 - reliance(bayes, grid))
    assert 1.0 < shortcut_bias(short, bayes, grid) <= 2.0  # the range is [-2, 2], see docstring


def test_reliance_rejects_bad_decisions():
    grid = latent_grid(LatentSpec(), 10)
    with pytest.raises(UserError, match="2 \\* c - 1"):
        reliance((grid[:, 0] > 0).long(), grid)  # class indices 0/1
    with pytest.raises(UserError, match="100 decisions"):
        reliance(torch.ones(99, dtype=torch.long), grid)
    with pytest.raises(UserError, match="even"):
        latent_grid(LatentSpec(), 61)


# --- embedding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rho_s, alpha_s", [(0.9, 1.0), (0.7, 3.0), (0.97, 0.3)])
def test_closed_form_linear_fit_on_inputs_recovers_bayes_on_grid(rho_s, alpha_s):
    spec = LatentSpec(rho_shortcut=rho_s, alpha_shortcut=alpha_s)
    _, y, x = sample(spec)
    grid = latent_grid(spec)
    model = _ridge_decisions(x, y, embed(spec, grid))
    bias = shortcut_bias(model, bayes_decision(spec, grid), grid)
    assert abs(bias) < 0.05


def test_sample_is_embed_of_its_latents_and_reproducible():
    spec = LatentSpec(nest_shortcut=2)
    z, y, x = sample(spec, 500)
    assert x.shape == (500, 100) and x.dtype == torch.float32 and z.dtype == torch.float32
    assert torch.equal(x, embed(spec, z))
    z2, y2, x2 = sample(spec, 500)
    assert torch.equal(z, z2) and torch.equal(y, y2) and torch.equal(x, x2)
    assert len(sample(spec)[0]) == 3200 and len(sample(spec, split="test")[0]) == 1000


def test_train_and_test_splits_differ():
    spec = LatentSpec()
    z_train, _, _ = sample(spec, 200, "train")
    z_test, _, _ = sample(spec, 200, "test")
    assert not torch.isin(z_test[:, 0], z_train[:, 0]).any()


@pytest.mark.parametrize("nest", [0, 1, 3])
def test_embed_is_deterministic_for_a_seed_and_differs_across_seeds(nest):
    spec = LatentSpec(nest_core=nest, nest_shortcut=nest)
    z = latent_grid(spec, 10)
    assert torch.equal(embed(spec, z), embed(spec, z))
    assert torch.equal(embed(spec, z), embed(LatentSpec(nest_core=nest, nest_shortcut=nest), z))
    assert (embed(spec, z) - embed(replace(spec, seed=1), z)).abs().max() > 0.1


def test_depth_zero_is_linear_with_orthogonal_directions():
    spec = LatentSpec(alpha_core=2.0, alpha_shortcut=0.5)
    e = torch.eye(2)
    u = embed(spec, e)
    assert u[0].norm().item() == pytest.approx(2.0, rel=1e-5)
    assert u[1].norm().item() == pytest.approx(0.5, rel=1e-5)
    assert abs(torch.dot(u[0], u[1]).item()) < 1e-5
    z = torch.tensor([[1.5, -0.7]])
    assert torch.allclose(embed(spec, z), 1.5 * u[0] - 0.7 * u[1], atol=1e-5)


def _core_only(nest, rho=0.9, alpha=1.0):
    # a negligible shortcut amplification isolates x_c
    return LatentSpec(rho_core=rho, alpha_core=alpha, nest_core=nest, alpha_shortcut=1e-9)


def _linear_residual(z, x):
    a = torch.cat([z.double(), torch.ones(len(z), 1, dtype=torch.float64)], 1)
    x = x.double()
    fit = a @ torch.linalg.lstsq(a, x).solution
    return ((x - fit).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()


def test_nested_embeddings_are_nonlinear_and_more_so_when_deeper():
    residuals = []
    for nest in range(5):
        z, _, x = sample(_core_only(nest), 4000, "test")
        residuals.append(_linear_residual(z, x))
    assert residuals[0] < 1e-6
    assert all(r > 0.1 for r in residuals[1:])
    assert residuals[4] > residuals[1] + 0.1


@pytest.mark.parametrize("rho, alpha", [(0.9, 1.0), (0.6, 3.0), (1.0, 0.5)])
def test_nesting_keeps_the_signal_power_of_the_same_alpha(rho, alpha):
    powers = []
    for nest in range(5):
        _, _, x = sample(_core_only(nest, rho, alpha), 4000, "test")
        powers.append(x.double().pow(2).sum(1).mean().item())
    expected = alpha ** 2 * (1 + mu_from_rho(rho) ** 2)
    for p in powers:
        assert p == pytest.approx(expected, rel=0.1)


def test_nesting_shares_layers_across_depths():
    # a depth-k map is the first k layers of deeper ones: changing the shortcut's depth leaves
    # the core embedding untouched
    z = latent_grid(LatentSpec(), 10)
    a = embed(LatentSpec(nest_core=2, nest_shortcut=0, alpha_shortcut=1e-9), z)
    b = embed(LatentSpec(nest_core=2, nest_shortcut=3, alpha_shortcut=1e-9), z)
    assert torch.allclose(a, b, atol=1e-6)


# --- specs, sweeps and validation --------------------------------------------------------------

def test_defaults_follow_the_reported_setting():
    spec = LatentSpec()
    assert (spec.dim, spec.rho_core, spec.n_train) == (100, 0.9, 3200)
    assert availability_ratio(LatentSpec(alpha_core=2.0, alpha_shortcut=5.0)) == 2.5


def test_sweep_specs_expands_ratio_major_with_fixed_core():
    specs = sweep_specs([0.5, 1, 4], [0.6, 0.9], nest_shortcut=1, seed=3)
    assert len(specs) == 6
    assert [(availability_ratio(s), s.rho_shortcut) for s in specs] == [
        (0.5, 0.6), (0.5, 0.9), (1, 0.6), (1, 0.9), (4, 0.6), (4, 0.9)]
    assert all(s.rho_core == 0.9 and s.alpha_core == 1 and s.nest_shortcut == 1 and s.seed == 3
               for s in specs)
    with pytest.raises(UserError):
        sweep_specs([], [0.9])
    with pytest.raises(UserError, match="rho_shortcut"):
        sweep_specs([1.0], [0.5])


@pytest.mark.parametrize("kwargs, field", [
    ({"rho_core": 0.5}, "rho_core"),
    ({"rho_shortcut": 1.01}, "rho_shortcut"),
    ({"rho_core": float("nan")}, "rho_core"),
    ({"alpha_core": 0.0}, "alpha_core"),
    ({"alpha_shortcut": -1.0}, "alpha_shortcut"),
    ({"nest_core": 5}, "nest_core"),
    ({"nest_shortcut": 1.0}, "nest_shortcut"),
    ({"nest_shortcut": True}, "nest_shortcut"),
    ({"dim": 1}, "dim"),
    ({"n_train": 9}, "n_train"),
    ({"n_test": 0}, "n_test"),
    ({"seed": -1}, "seed"),
])
def test_validation_errors_are_one_line(kwargs, field):
    with pytest.raises(UserError) as err:
        LatentSpec(**kwargs)
    message = str(err.value)
    assert message.startswith(field) and "\n" not in message


def test_argument_errors_are_one_line():
    spec = LatentSpec()
    for call in (lambda: sample(spec, 10, "val"), lambda: sample(spec, 0),
                 lambda: embed(spec, torch.zeros(5, 3)), lambda: latent_grid(spec, 1),
                 lambda: mu_from_rho(0.4), lambda: bayes_decision(spec, torch.zeros(4))):
        with pytest.raises(UserError) as err:
            call()
        assert "\n" not in str(err.value)
