import pytest
import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.sae import (
    SparseAutoencoder,
    blocked_topk,
    explained_variance,
    geometric_median,
    sparse_decode,
    topk_encode,
)

torch.set_num_threads(1)


def reference(x, W_enc, b_enc, b_pre, W_dec, k):
    """Plain autograd: dense pre-activations, torch.topk, a dense code, a dense decoder."""
    pre = torch.addmm(b_enc, x - b_pre, W_enc.T)
    values, indices = pre.topk(k)
    return torch.zeros_like(pre).scatter(1, indices, values.relu()) @ W_dec.T


def fast(x, W_enc, b_enc, b_pre, W_dec, k):
    values, indices = topk_encode(x, W_enc, b_enc, b_pre, k)
    return sparse_decode(values, indices, W_dec)


def tensors(B, d, W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)
            for s in ((B, d), (W, d), (W,), (d,), (d, W))]


def test_topk_encode_and_sparse_decode_pass_gradcheck():
    x, W_enc, b_enc, b_pre, _ = args = tensors(5, 4, 9)
    # Finite differences need a selection that a 1e-6 nudge cannot change: no near-ties, nothing near 0.
    pre = torch.addmm(b_enc, x - b_pre, W_enc.T).detach().sort(1, descending=True).values
    assert (pre[:, 2] - pre[:, 3]).abs().min() > 1e-3 and pre.abs().min() > 1e-3
    assert torch.autograd.gradcheck(lambda *a: fast(*a, k=3), args)


@pytest.mark.parametrize("B, d, W, k", [(7, 5, 12, 3), (33, 16, 256, 8)])  # the second takes the blocked topk
def test_fast_topk_matches_plain_autograd(B, d, W, k):
    args = tensors(B, d, W, seed=1)
    out_fast, out_ref = fast(*args, k=k), reference(*args, k=k)
    assert torch.allclose(out_fast, out_ref)
    weights = torch.randn(B, d, dtype=torch.float64)
    grads_fast = torch.autograd.grad((weights * out_fast).sum(), args)
    grads_ref = torch.autograd.grad((weights * out_ref).sum(), args)
    for a, b in zip(grads_fast, grads_ref):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("W, k", [(1536, 32), (1000, 16), (100, 10)])
def test_blocked_topk_gives_topk_values(W, k):
    g = torch.Generator().manual_seed(0)
    for pre in (torch.randn(64, W, generator=g), torch.randint(-3, 4, (64, W), generator=g).float(),
                torch.randn(64, W, generator=g).bfloat16()):
        values, indices = blocked_topk(pre, k)
        assert torch.equal(values.sort(1).values, pre.topk(k).values.sort(1).values)
        assert torch.equal(pre.gather(1, indices), values)
        assert (indices.sort(1).values.diff(dim=1) > 0).all()  # k distinct latents per row


def test_init_unit_decoder_and_tied_encoder():
    sae = SparseAutoencoder(8, 24, k=4)
    assert sae.W_dec.shape == (8, 24) and sae.W_enc.shape == (24, 8)
    assert torch.allclose(sae.W_dec.norm(dim=0), torch.ones(24))
    assert torch.equal(sae.W_enc, sae.W_dec.T)


def test_after_step_renormalises_and_parallel_grad_is_removed():
    sae = SparseAutoencoder(8, 24, k=4)
    sae.W_dec.grad = torch.randn(8, 24)
    sae.remove_parallel_grad_()
    assert (sae.W_dec.grad * sae.W_dec).sum(0).abs().max() < 1e-5
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(24) * 3 + 0.1)
    sae.after_step()
    assert torch.allclose(sae.W_dec.norm(dim=0), torch.ones(24), atol=1e-6)


def test_init_from_sets_scale_and_b_pre():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g, dtype=torch.float64) * torch.tensor([1, 2, 3, 4, 5, 6.0]) + 7
    sae = SparseAutoencoder(6, 12, k=2).double().init_from(x)
    mean = x.mean(0)
    scale = ((x - mean).pow(2).sum(1).mean() / 6).sqrt()
    assert torch.isclose(sae.scale, scale)
    assert torch.allclose(sae.b_pre, mean / scale)
    xs = sae.standardise(x)
    assert torch.isclose((xs - sae.b_pre).pow(2).sum(1).mean(), torch.tensor(6.0, dtype=torch.float64))
    assert torch.allclose(sae.unstandardise(xs), x)


def test_geometric_median_ignores_an_outlier():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]], dtype=torch.float64)
    m = geometric_median(x, iters=100)
    assert (m - 0.5).abs().max() < 0.3 and (x.mean(0) - 0.5).abs().min() > 19
    sae = SparseAutoencoder(2, 4, k=1).double().init_from(x, centre="median", iters=100)
    assert torch.allclose(sae.b_pre * sae.scale, m)


def sparse_data(n, g, directions, active=3):
    """Each row a sum of `active` of the true unit directions, coefficients in [0.5, 1.5], plus an offset."""
    idx = torch.rand(n, directions.shape[1], generator=g).argsort(1)[:, :active]
    z = torch.zeros(n, directions.shape[1]).scatter_(1, idx, torch.rand(n, active, generator=g) + 0.5)
    return z @ directions.T + 0.3


def train(sae, xs, steps, g, lr=3e-3, batch=256):
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    for _ in range(steps):
        loss, logs = sae.loss(xs[torch.randint(0, len(xs), (batch,), generator=g)])
        opt.zero_grad()
        loss.backward()
        sae.remove_parallel_grad_()
        opt.step()
        sae.after_step()
    return logs


def test_topk_recovers_a_sparse_dictionary():
    g = torch.Generator().manual_seed(1)  # not the SAE init stream (torch.manual_seed): W_dec would start at the truth
    torch.manual_seed(0)
    true = F.normalize(torch.randn(32, 64, generator=g), dim=0)  # 64 ground-truth directions in 32 dims
    x = sparse_data(8192, g, true)
    sae = SparseAutoencoder(32, 128, "topk", k=3).init_from(x)
    xs = sae.standardise(x)
    before = (true.T @ sae.W_dec.detach()).max(1).values
    logs = train(sae, xs, 300, g, lr=1e-2)
    sae.eval()
    with torch.no_grad():
        ev = explained_variance(xs, sae(xs).x_hat)
    cos = (true.T @ sae.W_dec.detach()).max(1).values  # best decoder column for each true direction
    assert ev > 0.9 and logs["nmse"] < 0.1
    assert (cos > 0.9).float().mean() > 0.8 and (before > 0.9).float().mean() < 0.1


def test_relu_l1_lowers_l0():
    l0 = []
    for l1 in (1e-3, 3e-2, 3e-1):
        g = torch.Generator().manual_seed(1)
        torch.manual_seed(0)
        x = sparse_data(4096, g, F.normalize(torch.randn(32, 64, generator=g), dim=0))
        sae = SparseAutoencoder(32, 64, "relu", l1=l1).init_from(x)
        logs = train(sae, sae.standardise(x), 150, g)
        assert "l1" in logs and "auxk" not in logs
        l0.append(logs["l0"])
    assert l0[0] > l0[1] + 3 > l0[2] + 6


def test_batchtopk_keeps_batch_k_in_training_and_thresholds_in_eval():
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    sae = SparseAutoencoder(16, 48, "batchtopk", k=4).init_from(x)
    xs = sae.standardise(x)
    out = sae(xs)
    assert (out.acts > 0).sum() == 64 * 4 and out.indices is None
    assert (out.acts > 0).sum(1).unique().numel() > 1  # per token it varies: a batch-level budget
    assert sae.threshold < 0
    sae.loss(xs)
    assert torch.isclose(sae.threshold, out.acts[out.acts > 0].min())  # first estimate: this batch's minimum
    sae.eval()
    with torch.no_grad():
        sae.threshold.fill_(0.5)
        pre = F.linear(xs - sae.b_pre, sae.W_enc, sae.b_enc)
        assert torch.equal(sae(xs).acts, pre.relu() * (pre > 0.5))


def test_auxk_is_zero_without_dead_latents_and_fits_the_residual_with_them():
    torch.manual_seed(0)
    x = torch.randn(512, 16)
    sae = SparseAutoencoder(16, 64, "topk", k=2, aux_k=8, dead_window=10**9).init_from(x)
    xs = sae.standardise(x)
    loss, logs = sae.loss(xs)
    assert logs["auxk"] == 0 and logs["dead"] == 0 and torch.isclose(loss, torch.tensor(logs["mse"]))

    dead = torch.arange(32, 64)
    sae.tokens_since_fired[dead] = sae.dead_window
    loss, logs = sae.loss(xs)
    assert logs["auxk"] > 0 and loss.item() == pytest.approx(logs["mse"] + logs["auxk"] / 32, rel=1e-5)
    loss.backward()
    grad_rows = sae.W_enc.grad.abs().sum(1) > 0
    assert grad_rows[dead].any()  # AuxK is the only path to the dead latents

    sae.aux_alpha = 1.0
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    first = logs["auxk"]
    for _ in range(100):
        sae.tokens_since_fired[dead] = sae.dead_window  # keep them dead
        loss, logs = sae.loss(xs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sae.after_step()
    assert logs["auxk"] < 0.8 * first and logs["auxk"] < 1.0  # the dead latents explain part of e


def test_dead_latent_counter_counts_training_tokens():
    torch.manual_seed(0)
    sae = SparseAutoencoder(8, 32, "topk", k=2, dead_window=100)
    xs = torch.randn(60, 8)
    sae.loss(xs)
    fired = sae(xs).fires().any(0)
    assert torch.equal(sae.tokens_since_fired, torch.where(fired, 0, 60))
    sae.loss(xs)
    assert torch.equal(sae.dead_mask(), ~fired)  # 120 >= 100 tokens without firing
    sae.eval()
    sae.loss(xs)
    assert sae.tokens_since_fired.max() == 120  # evaluation does not count


@pytest.mark.parametrize("variant", ["topk", "batchtopk", "relu"])
def test_output_dense_fires_and_units(variant):
    torch.manual_seed(0)
    x = torch.randn(20, 8) * 5 + 3
    sae = SparseAutoencoder(8, 32, variant, k=3).init_from(x)
    out = sae(sae.standardise(x))
    dense = out.dense()
    assert dense.shape == (20, 32) and torch.equal(out.fires(), dense > 0)
    assert torch.allclose(sae.decode(dense), out.x_hat, atol=1e-5)
    if variant == "topk":
        assert out.acts.shape == (20, 3) and out.indices.shape == (20, 3)


def test_bf16_autocast_keeps_float32_losses_and_grads():
    torch.manual_seed(0)
    x = torch.randn(256, 32)
    sae = SparseAutoencoder(32, 128, k=8).init_from(x)
    xs = sae.standardise(x)
    ref = sae.loss(xs)[1]["mse"]
    with torch.autocast("cpu", torch.bfloat16):
        loss, logs = sae.loss(xs)
    loss.backward()
    assert loss.dtype == torch.float32 and sae.W_enc.grad.dtype == torch.float32
    assert logs["mse"] == pytest.approx(ref, rel=0.05)


@pytest.mark.parametrize("kwargs", [{"k": 33}, {"k": 0}, {"width": 0}, {"l1": -1.0}, {"variant": "jumprelu"},
                                    {"aux_k": -1}, {"dead_window": 0}])
def test_bad_arguments_raise_user_error(kwargs):
    args = {"d_in": 8, "width": 32, "k": 4} | kwargs
    with pytest.raises(UserError):
        SparseAutoencoder(**args)


def test_bad_inputs_raise_user_error():
    sae = SparseAutoencoder(8, 32, k=4)
    with pytest.raises(UserError):
        sae.init_from(torch.randn(10, 7))
    with pytest.raises(UserError):
        sae.init_from(torch.ones(10, 8))
    with pytest.raises(UserError):
        sae.loss(torch.randn(10, 7))
