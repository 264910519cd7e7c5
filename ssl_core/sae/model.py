"""A sparse autoencoder (SAE) over a model's activations, with a fast sparse TopK path on CPU.

    z     = act(W_enc (x - b_pre) + b_enc)        (width,)   sparse latents
    x_hat = W_dec z + b_pre                       (d_in,)    W_dec has unit-norm columns

Variants of act:
- "topk":      keep the k largest pre-activations of each token, ReLU (Gao et al. 2024, "Scaling and
               evaluating sparse autoencoders", sec. 2.3);
- "batchtopk": keep the B*k largest pre-activations of the whole batch; at inference a threshold
               estimated in training replaces the batch (Bussmann, Leask, Nanda 2024, "BatchTopK
               Sparse Autoencoders");
- "relu":      ReLU with an L1 penalty weighted by the decoder column norms (Bricken et al. 2023,
               "Towards Monosemanticity"; Anthropic's "Circuits Updates - April 2024").

Units. `init_from(x)` measures the data once: scale = sqrt(E||x - mean||^2 / d_in), so the
standardised inputs x / scale have mean squared norm d_in after centring (a per-element variance of
1, which makes the MSE a normalised MSE and hyper-parameters transfer across layers). encode,
decode, forward and loss all work in standardised units; `standardise` / `unstandardise` convert.

Speed. A TopK step with plain autograd through torch.topk costs five dense (B x width x d_in)
matmuls: encoder and dense decoder forward, the decoder's two gradients and the encoder weight
gradient. Here `topk_encode` and `sparse_decode` are autograd Functions whose backward touch only the
B*k selected latents (as the Triton kernels of Gao et al.), so a step costs about one dense matmul,
the encoder's forward, and `blocked_topk` trims torch.topk, then the largest cost. Under bfloat16
autocast that matmul (and so the selection) runs in bfloat16; the selected values, the decoder and
the losses stay float32.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.errors import UserError

VARIANTS = ("topk", "batchtopk", "relu")


def _scatter_rows(indices: torch.Tensor, weights: torch.Tensor, rows: torch.Tensor, n_out: int) -> torch.Tensor:
    """out[j] = sum over (b, s) with indices[b, s] == j of weights[b, s] * rows[b]; (n_out, d).

    The sparse (n_out x B) @ (B x d) product with B*k non-zeros: sort the pairs by latent and let
    embedding_bag sum each latent's rows, instead of a dense (n_out x B) @ (B x d) matmul.
    """
    flat = indices.reshape(-1)
    order = flat.int().argsort()  # int32 keys sort twice as fast as int64 on CPU
    counts = torch.bincount(flat, minlength=n_out)
    offsets = counts.cumsum(0) - counts
    token = torch.div(order, indices.shape[1], rounding_mode="floor")
    return F.embedding_bag(token, rows, offsets, mode="sum", per_sample_weights=weights.reshape(-1)[order])


def blocked_topk(pre: torch.Tensor, k: int, block: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.topk(pre, k, dim=-1, sorted=False) for (B, W) pre, in about 60% of its time on CPU.

    Split each row into blocks of `block` columns and keep the k blocks with the largest maxima:
    the k largest entries lie in them (if an entry's block is left out, k kept blocks each hold an
    entry at least as large), so a topk over those k * block candidates gives the same values
    (indices may differ between equal values, as topk's own). Plain topk when W < 2 k block.
    """
    B, W = pre.shape
    if W < 2 * k * block:
        return pre.topk(k, dim=-1, sorted=False)
    n_blocks = -(-W // block)
    if n_blocks * block != W:
        pre = F.pad(pre, (0, n_blocks * block - W), value=float("-inf"))
    blocks = pre.view(B, n_blocks, block)
    kept = blocks.amax(2).topk(k, dim=1, sorted=False).indices  # (B, k) block ids
    candidates = blocks.gather(1, kept[:, :, None].expand(-1, -1, block)).view(B, k * block)
    values, local = candidates.topk(k, dim=1, sorted=False)
    indices = kept.gather(1, torch.div(local, block, rounding_mode="floor")) * block + local % block
    return values, indices


class _TopKEncode(torch.autograd.Function):
    """values, indices = ReLU(TopK_k(W_enc (x - b_pre) + b_enc)); the backward uses only the selected entries."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, b_pre, k):
        xc = x - b_pre
        pre = torch.addmm(b_enc, xc, W_enc.t())  # the one dense matmul; bfloat16 under autocast
        values, indices = blocked_topk(pre, k)
        values = values.to(W_enc.dtype).relu()
        ctx.save_for_backward(xc, W_enc, values, indices)
        ctx.mark_non_differentiable(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g_values, _g_indices):
        xc, W_enc, values, indices = ctx.saved_tensors
        g = (g_values * (values > 0)).to(W_enc.dtype)  # ReLU's gradient
        width = W_enc.shape[0]
        grad_b_enc = torch.zeros(width, dtype=g.dtype, device=g.device)
        grad_b_enc.index_add_(0, indices.reshape(-1), g.reshape(-1))
        grad_W_enc = _scatter_rows(indices, g, xc.to(g.dtype), width) if ctx.needs_input_grad[1] else None
        # d pre / d b_pre = -W_enc, summed over the batch before the mat-vec (Gao et al.'s trick).
        grad_b_pre = -(grad_b_enc @ W_enc) if ctx.needs_input_grad[3] else None
        grad_x = F.embedding_bag(indices, W_enc, mode="sum", per_sample_weights=g) if ctx.needs_input_grad[0] else None
        return grad_x, grad_W_enc, grad_b_enc, grad_b_pre, None


def topk_encode(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, b_pre: torch.Tensor,
                k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """TopK encoder (Gao et al. 2024, eq. 3): z = ReLU(TopK_k(W_enc (x - b_pre) + b_enc)).

    Returns values (B, k) >= 0 and indices (B, k) (order within a row unspecified). Gradients flow
    to x, W_enc, b_enc and b_pre through the selected entries only: O(B k d_in) instead of the dense
    (width x B) @ (B x d_in) matmul that autograd through torch.topk would do.
    """
    return _TopKEncode.apply(x, W_enc, b_enc, b_pre, k)


class _SparseDecode(torch.autograd.Function):
    """x_hat[b] = sum_s values[b, s] * W_dec[:, indices[b, s]], gathered and summed by embedding_bag."""

    @staticmethod
    def forward(ctx, values, indices, W_dec):
        W_rows = W_dec.t().contiguous()  # (width, d_in): one latent's decoder column per row
        ctx.save_for_backward(values, indices, W_rows)
        return F.embedding_bag(indices, W_rows, mode="sum", per_sample_weights=values)

    @staticmethod
    def backward(ctx, grad_out):
        values, indices, W_rows = ctx.saved_tensors
        grad_values = grad_W_dec = None
        if ctx.needs_input_grad[0]:
            # grad_values[b, s] = <grad_out[b], W_dec[:, indices[b, s]]>: embedding_bag's own per-sample
            # weight gradient computes these B*k dot products without a (B, k, d_in) gather.
            with torch.enable_grad():
                v = values.detach().requires_grad_(True)
                out = F.embedding_bag(indices, W_rows, mode="sum", per_sample_weights=v)
                (grad_values,) = torch.autograd.grad(out, v, grad_out)
        if ctx.needs_input_grad[2]:
            grad_W_dec = _scatter_rows(indices, values, grad_out.to(values.dtype), W_rows.shape[0]).t()
        return grad_values, None, grad_W_dec


def sparse_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """W_dec z for a sparse z given as values (B, k) at indices (B, k); (B, d_in), without b_pre."""
    return _SparseDecode.apply(values, indices, W_dec)


def geometric_median(x: torch.Tensor, iters: int = 8, eps: float = 1e-8) -> torch.Tensor:
    """The point minimising sum_i ||x_i - y||, by Weiszfeld's iterations from the mean:

        y <- sum_i w_i x_i / sum_i w_i,  w_i = 1 / max(||x_i - y||, eps).

    Gao et al. 2024 (sec. A.1) initialise b_pre to it: robust to outlying activations.
    """
    y = x.mean(0)
    for _ in range(iters):
        w = 1 / (x - y).norm(dim=1).clamp_min(eps)
        y = (w[:, None] * x).sum(0) / w.sum()
    return y


@dataclass
class SAEOutput:
    """What `SparseAutoencoder.forward` returns, in standardised units.

    x_hat:   (B, d_in) reconstruction, b_pre included.
    acts:    the latents: for "topk" the (B, k) non-negative values at `indices`; for "batchtopk" and
             "relu" the dense (B, width) activations.
    indices: (B, k) latent ids of `acts` for "topk", None for the dense variants.
    width:   the number of latents, so `dense()` and `fires()` can build (B, width).
    """
    x_hat: torch.Tensor
    acts: torch.Tensor
    indices: torch.Tensor | None
    width: int

    def dense(self) -> torch.Tensor:
        """The (B, width) activations, whatever the variant (differentiable)."""
        if self.indices is None:
            return self.acts
        return self.acts.new_zeros(len(self.acts), self.width).scatter(1, self.indices, self.acts)

    def fires(self) -> torch.Tensor:
        """(B, width) bool: which latents are active (> 0) on each token."""
        if self.indices is None:
            return self.acts > 0
        out = torch.zeros(len(self.acts), self.width, dtype=torch.bool, device=self.acts.device)
        return out.scatter_(1, self.indices, self.acts > 0)


class SparseAutoencoder(nn.Module):
    """z = act(W_enc (x - b_pre) + b_enc), x_hat = W_dec z + b_pre, on standardised x (see the module).

    Parameters: W_enc (width, d_in), b_enc (width), W_dec (d_in, width) with unit-norm columns,
    b_pre (d_in). Buffers: scale (the data's RMS per element, set by `init_from`), tokens_since_fired
    (width), threshold (batchtopk's inference threshold, -1 until estimated).

    Training step: `loss, logs = sae.loss(x)`, `loss.backward()`, `sae.remove_parallel_grad_()`,
    `opt.step()`, `sae.after_step()`.

    k: latents per token (topk) or on average (batchtopk); l1: L1 weight (relu); aux_k: AuxK's dead
    latents per token, default d_in // 2, 0 disables AuxK; aux_alpha: its weight (1/32 in Gao et al.);
    dead_window: a latent is dead when it has not fired in this many training tokens;
    threshold_beta: the EMA factor of batchtopk's threshold.
    """

    def __init__(self, d_in: int, width: int, variant: str = "topk", k: int = 32, l1: float = 1e-3,
                 aux_k: int | None = None, aux_alpha: float = 1 / 32, dead_window: int = 100_000,
                 threshold_beta: float = 0.999):
        super().__init__()
        if variant not in VARIANTS:
            raise UserError(f"SAE variant {variant!r} is unknown: use one of {', '.join(VARIANTS)}.")
        if d_in < 1 or width < 1:
            raise UserError(f"SAE sizes must be >= 1, got d_in={d_in}, width={width}: pass positive sizes.")
        if variant != "relu" and not 1 <= k <= width:
            raise UserError(f"SAE k={k} must be between 1 and width={width}: lower k or widen the SAE.")
        if l1 < 0:
            raise UserError(f"SAE l1={l1} is negative: use an L1 weight >= 0.")
        aux_k = d_in // 2 if aux_k is None else aux_k
        if aux_k < 0 or aux_alpha < 0:
            raise UserError(f"SAE aux_k={aux_k}, aux_alpha={aux_alpha} must be >= 0: use 0 to disable AuxK.")
        if dead_window < 1:
            raise UserError(f"SAE dead_window={dead_window} must be >= 1 token: pass a positive count.")
        if not 0 <= threshold_beta < 1:
            raise UserError(f"SAE threshold_beta={threshold_beta} must be in [0, 1): e.g. 0.999.")
        self.d_in, self.width, self.variant, self.k, self.l1 = d_in, width, variant, k, l1
        self.aux_k, self.aux_alpha, self.dead_window = aux_k, aux_alpha, dead_window
        self.threshold_beta = threshold_beta

        # Decoder columns: random unit directions; encoder = decoder transpose (Gao et al. sec. A.1).
        W_dec = F.normalize(torch.randn(d_in, width), dim=0)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.t().clone())
        self.b_enc = nn.Parameter(torch.zeros(width))
        self.b_pre = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("tokens_since_fired", torch.zeros(width, dtype=torch.long))
        self.register_buffer("threshold", torch.tensor(-1.0))

    # --- units -------------------------------------------------------------------------------------

    @torch.no_grad()
    def init_from(self, x: torch.Tensor, centre: str = "mean", iters: int = 8) -> "SparseAutoencoder":
        """Set scale and b_pre from a sample x (N, d_in) of raw activations.

        scale = sqrt(E||x - mean||^2 / d_in); b_pre = mean / scale (centre="mean") or the geometric
        median / scale (centre="median", `iters` Weiszfeld steps, as Gao et al.). Returns self.
        """
        if x.ndim != 2 or x.shape[1] != self.d_in or len(x) < 2:
            raise UserError(f"init_from needs activations of shape (N >= 2, {self.d_in}), got {tuple(x.shape)}.")
        if centre not in ("mean", "median"):
            raise UserError(f"init_from centre={centre!r} is unknown: use 'mean' or 'median'.")
        x = x.double()
        mean = x.mean(0)
        scale = ((x - mean).pow(2).sum(1).mean() / self.d_in).sqrt()
        if not torch.isfinite(scale) or scale <= 0:
            raise UserError("init_from got constant or non-finite activations: pass a varied, finite sample.")
        c = mean if centre == "mean" else geometric_median(x, iters)
        self.scale.fill_(scale.item())
        self.b_pre.copy_(c / scale)
        return self

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw activations -> the SAE's standardised units: x / scale."""
        return x / self.scale

    def unstandardise(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Standardised units -> raw activations: x_hat * scale."""
        return x_hat * self.scale

    # --- encode / decode ----------------------------------------------------------------------------

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise UserError(f"The SAE takes activations of shape (B, {self.d_in}), got {tuple(x.shape)}: "
                            "flatten tokens into rows of the SAE's d_in.")

    def _pre(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x - self.b_pre, self.W_enc, self.b_enc)

    def _batchtopk(self, acts: torch.Tensor) -> torch.Tensor:
        """Keep the B*k largest of the batch's (B, width) ReLU'd pre-activations (Bussmann et al. eq. 2)."""
        flat = acts.reshape(-1)
        keep = flat.topk(min(self.k * len(acts), flat.numel()), sorted=False).indices
        mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(0, keep, True)
        return acts * mask.view_as(acts)

    def _dense_acts(self, pre: torch.Tensor) -> torch.Tensor:
        acts = pre.relu()
        if self.variant == "relu":
            return acts
        if self.training or self.threshold < 0:  # no threshold yet: select over the batch, as in training
            return self._batchtopk(acts)
        return acts * (pre > self.threshold)  # Bussmann et al. sec. 3: z = relu(pre) * 1[pre > theta]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Standardised x (B, d_in) -> (values (B, k), indices (B, k)) for topk, (acts (B, width), None) otherwise."""
        self._check(x)
        if self.variant == "topk":
            return topk_encode(x, self.W_enc, self.b_enc, self.b_pre, self.k)
        return self._dense_acts(self._pre(x)), None

    def decode(self, acts: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """x_hat = W_dec z + b_pre, z given sparsely (acts (B, k) at indices) or dense (B, width)."""
        if indices is not None:
            return sparse_decode(acts.to(self.W_dec.dtype), indices, self.W_dec) + self.b_pre
        return F.linear(acts, self.W_dec, self.b_pre)

    def forward(self, x: torch.Tensor) -> SAEOutput:
        """Standardised x (B, d_in) -> SAEOutput (x_hat, acts, indices, width)."""
        acts, indices = self.encode(x)
        return SAEOutput(self.decode(acts, indices), acts, indices, self.width)

    # --- dead latents -------------------------------------------------------------------------------

    def dead_mask(self) -> torch.Tensor:
        """(width,) bool: latents that have not fired in the last `dead_window` training tokens."""
        return self.tokens_since_fired >= self.dead_window

    @torch.no_grad()
    def _count_firing(self, acts: torch.Tensor, indices: torch.Tensor | None) -> None:
        if indices is None:
            fired = (acts > 0).any(0)
        else:
            fired = torch.bincount(indices[acts > 0], minlength=self.width) > 0
        self.tokens_since_fired += len(acts)
        self.tokens_since_fired[fired] = 0

    # --- loss ---------------------------------------------------------------------------------------

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss on standardised x (B, d_in), and logs of floats.

            L = ||x - x_hat||^2 / d_in                               (MSE; ~ normalised MSE here)
              + l1 * sum_j z_j ||W_dec[:, j]||                       (relu: Anthropic, April 2024)
              + aux_alpha * ||e - e_hat||^2 / ||e - mean(e)||^2      (topk, batchtopk: AuxK)

        averaged over the batch. AuxK (Gao et al. sec. A.2): e = x - x_hat (detached) is the residual,
        e_hat = W_dec z_aux (no b_pre) its reconstruction from the aux_k largest pre-activations of the
        dead latents only; it is 0 while no latent is dead. In training mode the call also updates
        the dead-latent counters and batchtopk's threshold theta <- beta theta + (1 - beta) min z>0.

        Logs: loss, mse, nmse (||x - x_hat||^2 / ||x - mean(x)||^2 over the batch), l0, dead (fraction
        of dead latents), and l1 (relu) or auxk (topk, batchtopk).
        """
        acts, indices = self.encode(x)
        dtype = torch.promote_types(self.W_dec.dtype, torch.float32)  # losses in float32 even under autocast
        x_hat, x = self.decode(acts, indices).to(dtype), x.to(dtype)
        mse = (x - x_hat).pow(2).mean()
        loss = mse
        logs = {}
        if self.variant == "relu":
            l1 = (acts.to(dtype) * self.W_dec.norm(dim=0)).sum(-1).mean()
            loss = loss + self.l1 * l1
            logs["l1"] = l1.item()
        else:
            dead = self.dead_mask().nonzero().squeeze(1)
            auxk = self._auxk(x, (x - x_hat).detach(), dead) if self.aux_k > 0 and len(dead) else x.new_zeros(())
            loss = loss + self.aux_alpha * auxk
            logs["auxk"] = auxk.item()
        with torch.no_grad():
            if self.training:
                self._count_firing(acts, indices)
                if self.variant == "batchtopk" and (acts > 0).any():
                    low = acts[acts > 0].min().to(self.threshold.dtype)
                    beta = self.threshold_beta if self.threshold >= 0 else 0.0
                    self.threshold.copy_(beta * self.threshold + (1 - beta) * low)
            nmse = (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
            logs.update(loss=loss.item(), mse=mse.item(), nmse=nmse.item(),
                        l0=(acts > 0).sum(-1).float().mean().item(), dead=self.dead_mask().float().mean().item())
        return loss, logs

    def _auxk(self, x: torch.Tensor, e: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
        """AuxK's ||e - e_hat||^2 / ||e - mean(e)||^2, e_hat = W_dec[:, dead] TopK_aux(ReLU(pre[:, dead])).

        Dense on the dead columns only, with plain autograd: aux_k is large (d_in / 2) and often a
        good part of the dead latents, so a (B x d_in x n_dead) matmul beats gathering B * aux_k rows.
        """
        z = F.linear(x - self.b_pre, self.W_enc[dead], self.b_enc[dead]).to(e.dtype).relu()
        if self.aux_k < len(dead):
            top = z.topk(self.aux_k, dim=-1, sorted=False).indices
            z = z * torch.zeros_like(z, dtype=torch.bool).scatter_(1, top, True)
        e_hat = F.linear(z, self.W_dec[:, dead]).to(e.dtype)
        return ((e_hat - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum().clamp_min(1e-12)).nan_to_num(0)

    # --- decoder constraint -------------------------------------------------------------------------

    @torch.no_grad()
    def remove_parallel_grad_(self) -> None:
        """Project out of W_dec's gradient its component along each column, g_j -= (g_j . w_j) w_j / ||w_j||^2,
        so a step moves the unit-norm columns along the sphere (Bricken et al. 2023; Gao et al. sec. A.1).
        Call after backward, before the optimiser step."""
        g, w = self.W_dec.grad, self.W_dec
        if g is not None:
            g -= (g * w).sum(0, keepdim=True) / w.pow(2).sum(0, keepdim=True).clamp_min(1e-12) * w

    @torch.no_grad()
    def after_step(self) -> None:
        """Renormalise the decoder columns to unit norm; call after each optimiser step. With it the
        relu variant's norm-weighted L1 is a plain L1 (Bricken et al. 2023)."""
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12)
