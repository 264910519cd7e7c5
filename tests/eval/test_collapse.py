import math

import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.eval import effective_rank, embedding_std


def test_embedding_std_of_collapsed_batch_is_zero():
    z = torch.randn(1, 64).expand(32, 64)
    assert embedding_std(z) == pytest.approx(0.0, abs=1e-6)


def test_embedding_std_of_isotropic_gaussian_is_one_over_sqrt_d():
    z = torch.randn(4096, 64, generator=torch.Generator().manual_seed(0))
    assert embedding_std(z) == pytest.approx(64 ** -0.5, rel=0.03)


def test_effective_rank_of_rank_one_matrix_is_one():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(128, 1, generator=g) @ torch.randn(1, 32, generator=g)
    assert effective_rank(z) == pytest.approx(1.0, abs=1e-2)


def test_effective_rank_of_equal_singular_values_is_d():
    d = 16
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0)))
    z = torch.cat([q, -q]) + 3.0  # centring removes the offset and leaves [q; -q]: all s = sqrt(2)
    assert effective_rank(z) == pytest.approx(d, rel=1e-4)


def test_effective_rank_of_collapsed_batch_is_zero():
    assert effective_rank(torch.ones(8, 4)) == 0.0
    row = 100 * torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    assert effective_rank(row.expand(37, 64)) == 0.0  # centring leaves only round-off


@pytest.mark.parametrize("fn", [embedding_std, effective_rank])
def test_bad_input_raises_user_error(fn):
    with pytest.raises(UserError, match="batch >= 2"):
        fn(torch.randn(1, 8))
    with pytest.raises(UserError):
        fn(torch.randn(8))


def test_diverged_batch_is_logged_as_nan():
    z = torch.randn(8, 4)
    z[0, 0] = float("nan")
    assert math.isnan(effective_rank(z)) and math.isnan(embedding_std(z))
