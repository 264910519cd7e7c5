import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.sae import (
    dead_fraction,
    density_histogram,
    explained_variance,
    firing_counts,
    firing_density,
    firing_f1,
    firing_value_counts,
    mean_l0,
    peak_activation,
)

torch.set_num_threads(1)


def test_explained_variance_of_identity_mean_and_by_hand():
    torch.manual_seed(0)
    x = torch.randn(100, 5) * 3 + 2
    assert explained_variance(x, x) == 1.0
    assert explained_variance(x, x.mean(0).expand_as(x)) == pytest.approx(0.0, abs=1e-12)
    # x = [[0], [2]]: mean 1, total variance 2; x_hat = [[0], [1]] errs by 1 -> EV = 1 - 1/2.
    assert explained_variance(torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [1.0]])) == pytest.approx(0.5)
    with pytest.raises(UserError):
        explained_variance(x, x[:, :4])


def test_l0_counts_and_densities_dense_and_sparse_agree():
    # 3 tokens, width 4: latent 0 fires on all, 2 on one, 1 and 3 never (a zero TopK value is not firing).
    dense = torch.tensor([[1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 5.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    values = torch.tensor([[1.0, 0.0], [2.0, 5.0], [0.5, 0.0]])
    indices = torch.tensor([[0, 3], [0, 2], [0, 1]])
    assert mean_l0(dense) == mean_l0(values) == pytest.approx(4 / 3)
    for args in ((dense,), (values, indices, 4)):
        assert firing_counts(*args).tolist() == [3, 0, 1, 0]
        assert firing_density(*args).tolist() == pytest.approx([1.0, 0.0, 1 / 3, 0.0])
        assert peak_activation(*args).tolist() == [2.0, 0.0, 5.0, 0.0]
    assert dead_fraction(firing_counts(dense)) == 0.5
    with pytest.raises(UserError):
        firing_counts(values, indices)  # sparse needs the width


def test_density_histogram_bins_log10_and_leaves_out_dead():
    density = torch.tensor([0.0, 3e-5, 3e-3, 3e-3, 0.5, 1e-9])
    counts, edges = density_histogram(density, bins=6, lo=-6.0, hi=0.0)
    assert edges.tolist() == pytest.approx([-6, -5, -4, -3, -2, -1, 0])
    # log10: -4.5 -> bin [-5, -4); -2.5 twice -> [-3, -2); -0.3 -> [-1, 0]; 1e-9 clamps into the first bin.
    assert counts.tolist() == [1, 1, 0, 2, 0, 1]


def test_firing_f1_by_hand():
    # 6 tokens with values [0, 0, 0, 1, 1, 2]. Latent 0 fires on tokens 0, 1, 3; latent 1 on token 5 only;
    # latent 2 never.
    fires = torch.zeros(6, 3, dtype=torch.bool)
    fires[[0, 1, 3], 0] = True
    fires[5, 1] = True
    values = torch.tensor([0, 0, 0, 1, 1, 2])
    precision, recall, f1 = firing_f1(fires, values, 3)
    assert precision.shape == recall.shape == f1.shape == (3, 3)
    assert precision[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    assert recall[0].tolist() == pytest.approx([2 / 3, 1 / 2, 0])
    assert f1[0].tolist() == pytest.approx([2 / 3, 0.4, 0])  # 2PR/(P+R): 2*(1/3)(1/2)/(5/6) = 0.4
    assert f1[1].tolist() == pytest.approx([0, 0, 1])
    assert f1[2].tolist() == [0, 0, 0]


def test_firing_f1_chunks_give_the_same_counts():
    g = torch.Generator().manual_seed(0)
    fires = torch.rand(1000, 7, generator=g) > 0.7
    values = torch.randint(0, 5, (1000,), generator=g)
    big = firing_value_counts(fires, values, 5)
    small = firing_value_counts(fires, values, 5, chunk=64)
    assert all(torch.equal(a, b) for a, b in zip(big, small))
    onehot = torch.nn.functional.one_hot(values, 5).double()
    assert torch.equal(big[0], fires.double().T @ onehot)
    with pytest.raises(UserError):
        firing_f1(fires, values, 4)  # a code out of range
