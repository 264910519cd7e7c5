import json

import pytest
import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.sae import (
    LatentFactorStats,
    SparseAutoencoder,
    best_latents,
    dictionary_explained_variance,
    factor_report,
    firing_f1,
    fit_probe,
    occlusion,
    over_splitting,
    probe_f1,
    sae_edit_rate,
    sae_factor_stats,
    supervised_dictionary,
    supervised_edit_rate,
)

torch.set_num_threads(1)
N_VALUES = {"shape": 4, "colour": 3}


def factorial_data(reps=5, d=16):
    """a = c + g_shape[v] + g_colour[w] over every (v, w) combination, `reps` times each."""
    g = torch.Generator().manual_seed(0)
    g_shape = 2 * torch.randn(4, d, generator=g, dtype=torch.float64)
    g_colour = 2 * torch.randn(3, d, generator=g, dtype=torch.float64)
    c = torch.randn(d, generator=g, dtype=torch.float64)
    v, w = (t.flatten().repeat(reps) for t in torch.meshgrid(torch.arange(4), torch.arange(3), indexing="ij"))
    return c + g_shape[v] + g_colour[w], {"shape": v, "colour": w}, (c, g_shape, g_colour)


def handmade_sae(acts, parts, variant="topk", hidden=()):
    """An SAE whose latents 0-3 are the shape vectors and 4-6 the colour ones (5 more never fire): the
    encoder is the pseudo-inverse of those decoder columns, so it reads each row's two factors exactly."""
    c, g_shape, g_colour = parts
    true = torch.cat([g_shape, g_colour])  # (7, d)
    sae = SparseAutoencoder(acts.shape[1], 12, variant, k=2).double().init_from(acts)
    with torch.no_grad():
        sae.b_pre.copy_(c / sae.scale)
        sae.W_dec[:, :7] = F.normalize(true.T, dim=0)
        sae.W_enc.zero_()
        sae.W_enc[:7] = torch.linalg.pinv(sae.W_dec[:, :7])
        sae.b_enc.fill_(-1.0)
        sae.b_enc[:7] = -1e-9  # absent factors read 0 up to rounding: keep them off
        sae.b_enc[list(hidden)] = -1e6
    return sae


def test_supervised_dictionary_is_exact_on_factorial_data():
    acts, codes, (c, g_shape, g_colour) = factorial_data()
    dictionary = supervised_dictionary(acts, codes, N_VALUES)
    assert torch.allclose(dictionary.vectors["shape"], g_shape - g_shape.mean(0))
    assert torch.allclose(dictionary.mean, c + g_shape.mean(0) + g_colour.mean(0))
    assert dictionary_explained_variance(dictionary, acts, codes) == pytest.approx(1.0, abs=1e-12)
    assert dictionary_explained_variance(dictionary, acts, {"shape": codes["shape"]}) < 0.9  # one factor is not enough


def test_supervised_control_succeeds_with_the_dictionary_and_fails_without():
    acts, codes, _ = factorial_data()
    dictionary = supervised_dictionary(acts, codes, N_VALUES)
    probe = fit_probe(acts, codes["shape"], 4)
    assert (probe.predict(acts) == codes["shape"]).all()
    assert probe_f1(probe, acts, codes["shape"], 4).tolist() == pytest.approx([1.0] * 4)
    report = supervised_edit_rate(acts, codes["shape"], dictionary.vectors["shape"], probe)
    assert report["rate"] > 0.99 and len(report["pairs"]) == 12 and report["pairs"][0]["n"] == 15
    zero = supervised_edit_rate(acts, codes["shape"], torch.zeros(4, acts.shape[1]), probe)
    assert zero["rate"] == 0.0  # no edit: the probe keeps reading the old value


@pytest.mark.parametrize("variant", ["topk", "batchtopk", "relu"])
def test_sae_that_owns_the_factors_scores_perfectly(variant):
    acts, codes, parts = factorial_data()
    sae = handmade_sae(acts, parts, variant)
    stats = sae_factor_stats(sae, acts, codes["shape"], 4, batch=7)
    best, latent = best_latents(stats.f1)
    assert latent.tolist() == [0, 1, 2, 3] and best.tolist() == pytest.approx([1.0] * 4)
    probe = fit_probe(acts, codes["shape"], 4)
    report = sae_edit_rate(sae, acts, codes["shape"], stats, probe, batch=7)
    assert report["rate"] > 0.99 and report["latents"] == [0, 1, 2, 3]

    full = factor_report(sae, acts, codes, N_VALUES)
    json.dumps(full)  # plain data for the app
    assert full["supervised_ev"] == pytest.approx(1.0) and full["sae_ev"] == pytest.approx(1.0, abs=1e-6)
    for f, n in N_VALUES.items():
        r = full["factors"][f]
        assert r["best_f1"] == pytest.approx([1.0] * n) and r["probe_f1"] == pytest.approx([1.0] * n)
        assert r["sae_edit_rate"] > 0.99 and r["supervised_edit_rate"] > 0.99
        assert r["over_splitting"] == [] and r["occlusion"] == []


def test_occlusion_names_values_a_probe_reads_but_no_latent_owns():
    acts, codes, parts = factorial_data()
    sae = handmade_sae(acts, parts, hidden=(4, 5, 6))  # the colour latents never fire
    report = factor_report(sae, acts, codes, N_VALUES)
    assert report["factors"]["shape"]["occlusion"] == []
    found = report["factors"]["colour"]["occlusion"]
    assert [o["value"] for o in found] == [0, 1, 2]
    assert all(o["probe_f1"] == pytest.approx(1.0) and o["best_f1"] < 0.5 for o in found)

    stats = LatentFactorStats(*firing_f1(torch.eye(3, dtype=torch.bool), torch.arange(3), 3), torch.ones(3))
    assert [o["value"] for o in occlusion(torch.tensor([1.0, 0.95, 0.5]), stats)] == []
    stats.f1[:, 1] = 0.2  # value 1 loses its latent; value 2 has none but the probe cannot read it either
    stats.f1[:, 2] = 0.1
    assert [o["value"] for o in occlusion(torch.tensor([1.0, 0.95, 0.5]), stats)] == [1]


def split_stats(split: bool) -> LatentFactorStats:
    """30 rows of value 0 and 10 of value 1. Latent 3 owns value 1. Value 0 is either split over latents
    0, 1, 2 (a disjoint third each) or owned by latent 0 alone, with latents 1, 2 firing as a small subset."""
    values = torch.tensor([0] * 30 + [1] * 10)
    fires = torch.zeros(40, 4, dtype=torch.bool)
    if split:
        fires[0:10, 0] = fires[10:20, 1] = fires[20:30, 2] = True
    else:
        fires[0:30, 0] = True
        fires[0:3, 1] = fires[3:6, 2] = True
    fires[30:40, 3] = True
    fires[30, 0] = True  # a little imprecision
    return LatentFactorStats(*firing_f1(fires, values, 2), torch.ones(4))


def test_over_splitting_names_a_value_spread_over_precise_latents():
    found = over_splitting(split_stats(split=True))
    assert len(found) == 1 and found[0]["value"] == 0 and sorted(found[0]["latents"]) == [0, 1, 2]
    assert found[0]["coverage"] == pytest.approx(1.0) and found[0]["best_f1"] < 0.7
    assert over_splitting(split_stats(split=False)) == []


def test_bad_codes_raise_user_error():
    acts, codes, _ = factorial_data()
    with pytest.raises(UserError):
        supervised_dictionary(acts, {"shape": codes["shape"] + 1}, N_VALUES)  # value 4 of 4
    with pytest.raises(UserError):
        supervised_dictionary(acts, {"size": codes["shape"]}, N_VALUES)  # no n_values for it
    with pytest.raises(UserError):
        supervised_dictionary(acts, {"shape": codes["shape"][:-1]}, N_VALUES)
