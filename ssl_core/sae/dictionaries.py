"""Supervised dictionaries and the factor-based evaluation of a sparse autoencoder.

Makelov, Lange, Nanda, "Towards Principled Evaluations of Sparse Autoencoders for Interpretability
and Control" (2024). When the data come with known factors (shape, colour, position...), each with
values v, the supervised dictionary is the activations' conditional means,

    u_v = E[a | v_f(a) = v] - E[a],      a ~ E[a] + sum_f u_{v_f(a)},

a reference for what an SAE could find. Three tests follow, for the supervised dictionary and for
the SAE alike:
- approximation: the explained variance of the reconstruction;
- control: edit an activation from value `old` to `new` and ask a linear probe whether it now reads
  `new` (supervised: a' = a - u_old + u_new; SAE: swap the best latent of `old` for that of `new`);
- interpretability: how well single latents classify each value (best F1 over latents).
And two failure modes are named: over-splitting and occlusion (see their functions).

Activations are the raw ones (the SAE's `standardise` is applied inside); codes map each factor to
(N,) int values in [0, n_values[factor]). Results are plain dicts, lists and floats for the app.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ssl_core.errors import UserError
from ssl_core.sae.metrics import (
    explained_variance,
    firing_value_counts,
    precision_recall_f1,
)
from ssl_core.sae.model import SAEOutput, SparseAutoencoder


def _check_codes(acts: torch.Tensor, codes: dict, n_values: dict) -> None:
    if acts.ndim != 2:
        raise UserError(f"Activations must be (N, D), got {tuple(acts.shape)}: flatten tokens into rows.")
    for f, c in codes.items():
        if f not in n_values:
            raise UserError(f"Factor {f!r} has codes but no entry in n_values: give its number of values.")
        if c.shape != (len(acts),):
            raise UserError(f"Factor {f!r} codes have shape {tuple(c.shape)}, expected ({len(acts)},): one per row.")
        if len(c) and (c.min() < 0 or c.max() >= n_values[f]):
            raise UserError(f"Factor {f!r} codes must lie in [0, {n_values[f]}): re-encode them as 0..n-1.")


# --- the supervised dictionary ------------------------------------------------------------------------

@dataclass
class SupervisedDictionary:
    """mean (D,) = E[a]; vectors[f] (V_f, D), row v = u_v = E[a | v_f = v] - E[a] (0 for unseen values)."""
    mean: torch.Tensor
    vectors: dict[str, torch.Tensor]

    def reconstruct(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """a_hat = E[a] + sum_f u_{v_f}, (N, D), for the factors in `codes`."""
        n = len(next(iter(codes.values())))
        out = self.mean.expand(n, -1).clone()
        for f, c in codes.items():
            out += self.vectors[f][c.long()]
        return out


def supervised_dictionary(acts: torch.Tensor, codes: dict[str, torch.Tensor],
                          n_values: dict[str, int]) -> SupervisedDictionary:
    """Makelov et al. sec. 3: u_v = mean of the centred activations of the rows with value v (float64)."""
    _check_codes(acts, codes, n_values)
    if not codes:
        raise UserError("supervised_dictionary needs at least one factor in codes.")
    a = acts.double()
    mean = a.mean(0)
    vectors = {}
    for f, c in codes.items():
        c = c.long()
        sums = torch.zeros(n_values[f], a.shape[1], dtype=a.dtype).index_add_(0, c, a - mean)
        counts = torch.bincount(c, minlength=n_values[f]).clamp_min(1)
        vectors[f] = sums / counts[:, None]
    return SupervisedDictionary(mean, vectors)


def dictionary_explained_variance(dictionary: SupervisedDictionary, acts: torch.Tensor,
                                  codes: dict[str, torch.Tensor]) -> float:
    """Explained variance of the supervised reconstruction E[a] + sum_f u_{v_f} (1 when a is exactly that)."""
    return explained_variance(acts.double(), dictionary.reconstruct(codes))


# --- linear probes ------------------------------------------------------------------------------------

@dataclass
class Probe:
    """A linear read-out of one factor: logits = a @ weight.T + bias, weight (V, D), in raw units."""
    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, acts: torch.Tensor) -> torch.Tensor:
        return acts.to(self.weight.dtype) @ self.weight.T + self.bias

    def predict(self, acts: torch.Tensor) -> torch.Tensor:
        return self.logits(acts).argmax(-1)


def fit_probe(acts: torch.Tensor, codes: torch.Tensor, n_values: int, l2: float = 1e-4,
              max_iter: int = 100) -> Probe:
    """Multinomial logistic regression, full batch with L-BFGS, on standardised features:

        min_{W, b} 1/N sum_i -log softmax(W s_i + b)_{y_i} + l2 / 2 ||W||^2,  s = (a - mu) / sigma,

    folded back to raw units (W / sigma, b - W mu / sigma) so `Probe.predict` takes raw activations.
    """
    if acts.ndim != 2 or codes.shape != (len(acts),) or len(acts) < 2:
        raise UserError(f"fit_probe needs acts (N >= 2, D) and codes (N,), got {tuple(acts.shape)} and "
                        f"{tuple(codes.shape)}.")
    y = codes.long()
    a = acts.double()
    mu, sigma = a.mean(0), a.std(0, correction=0)
    sigma = torch.where(sigma > 1e-8, sigma, torch.ones_like(sigma))  # constant dimensions: only centred
    s = (a - mu) / sigma
    w = torch.zeros(n_values, a.shape[1], dtype=a.dtype, requires_grad=True)
    b = torch.zeros(n_values, dtype=a.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(s @ w.T + b, y) + l2 / 2 * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = w.detach() / sigma, b.detach()
    return Probe(w, b - w @ mu)


def probe_f1(probe: Probe, acts: torch.Tensor, codes: torch.Tensor, n_values: int) -> torch.Tensor:
    """(V,) one-vs-rest F1 of the probe's predictions for each value."""
    pred = F.one_hot(probe.predict(acts), n_values).bool()
    tp, fired, n = firing_value_counts(pred, codes.long(), n_values)
    return precision_recall_f1(tp, fired, n)[2].diagonal().clone()


def _pairs(present: list[int], pairs) -> list[tuple[int, int]]:
    return [(o, n) for o in present for n in present if o != n] if pairs is None else [tuple(p) for p in pairs]


def _rate_report(rates: list[dict]) -> dict:
    mean = sum(r["rate"] for r in rates) / len(rates) if rates else float("nan")
    return {"rate": mean, "pairs": rates}


def supervised_edit_rate(acts: torch.Tensor, codes: torch.Tensor, vectors: torch.Tensor, probe: Probe,
                         pairs=None) -> dict:
    """Control with the supervised dictionary (Makelov et al. sec. 5): for rows with value `old`,

        a' = a - u_old + u_new,

    and the rate at which the probe then predicts `new`. codes (N,) and vectors (V, D) are one
    factor's; pairs: (old, new) tuples, default every ordered pair of values present. Returns
    {"rate": mean over pairs, "pairs": [{"old", "new", "n", "rate"}]}.
    """
    codes = codes.long()
    present = torch.unique(codes).tolist()
    rates = []
    for old, new in _pairs(present, pairs):
        rows = acts[codes == old].double()
        if len(rows):
            edited = rows - vectors[old] + vectors[new]
            rate = (probe.predict(edited) == new).double().mean().item()
            rates.append({"old": old, "new": new, "n": len(rows), "rate": rate})
    return _rate_report(rates)


# --- the SAE against the factors ----------------------------------------------------------------------

def _sae_outputs(sae: SparseAutoencoder, acts: torch.Tensor, batch: int):
    """The SAE's outputs over acts (raw units) in batches, in eval mode (batchtopk's threshold), no grad,
    brought back to the CPU."""
    was_training = sae.training
    sae.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(acts), batch):
                x = acts[start:start + batch].to(sae.W_enc.device, sae.W_enc.dtype)
                out = sae(sae.standardise(x))
                indices = None if out.indices is None else out.indices.cpu()
                yield start, SAEOutput(out.x_hat.cpu(), out.acts.cpu(), indices, out.width)
    finally:
        sae.train(was_training)


@dataclass
class LatentFactorStats:
    """One factor against an SAE's latents: precision, recall, f1 (W, V); mean_act (W,), the mean
    activation of each latent when it fires (standardised units)."""
    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    mean_act: torch.Tensor


def sae_factor_stats(sae: SparseAutoencoder, acts: torch.Tensor, codes: torch.Tensor, n_values: int,
                     batch: int = 4096) -> LatentFactorStats:
    """Each SAE latent's firing as a classifier of each value of one factor (see metrics.firing_f1)."""
    codes = codes.long()
    tp = torch.zeros(sae.width, n_values, dtype=torch.float64)
    fired = torch.zeros(sae.width, dtype=torch.float64)
    n = torch.zeros(n_values, dtype=torch.float64)
    act_sum = torch.zeros(sae.width, dtype=torch.float64)
    for start, out in _sae_outputs(sae, acts, batch):
        t, f, c = firing_value_counts(out.fires(), codes[start:start + len(out.x_hat)], n_values)
        tp, fired, n = tp + t, fired + f, n + c
        act_sum += out.dense().double().sum(0)
    precision, recall, f1 = precision_recall_f1(tp, fired, n)
    return LatentFactorStats(precision, recall, f1, act_sum / fired.clamp_min(1))


def best_latents(f1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpretability (Makelov et al. sec. 6): for each value, the best F1 over latents and that latent; (V,) each."""
    best, latent = f1.max(0)
    return best, latent


def sae_edit_rate(sae: SparseAutoencoder, acts: torch.Tensor, codes: torch.Tensor, stats: LatentFactorStats,
                  probe: Probe, pairs=None, batch: int = 4096) -> dict:
    """Control with the SAE: j_v = the best-F1 latent of value v; for rows with value `old`,

        a' = a - scale * z_{j_old}(a) * W_dec[:, j_old] + scale * mean_act_{j_new} * W_dec[:, j_new],

    i.e. remove the old latent's contribution and add the new one's at its mean activation when it
    fires, in raw units (scale: the SAE's). Returns the same report as `supervised_edit_rate`, plus
    "latents": j_v for each value.
    """
    codes = codes.long()
    _, latent = best_latents(stats.f1)
    z = torch.zeros(len(acts), len(latent), dtype=torch.float64)  # z_{j_v}(a) for every v
    for start, out in _sae_outputs(sae, acts, batch):
        z[start:start + len(out.x_hat)] = out.dense()[:, latent].double()
    columns = (sae.W_dec.detach().double().cpu() * sae.scale.item())[:, latent].T  # (V, D): scale * W_dec[:, j_v]
    present = torch.unique(codes).tolist()
    rates = []
    for old, new in _pairs(present, pairs):
        rows = codes == old
        if rows.any():
            edited = (acts[rows].double() - z[rows][:, old:old + 1] * columns[old]
                      + stats.mean_act[latent[new]] * columns[new])
            rate = (probe.predict(edited) == new).double().mean().item()
            rates.append({"old": old, "new": new, "n": int(rows.sum()), "rate": rate})
    return {**_rate_report(rates), "latents": latent.tolist()}


# --- failure modes ------------------------------------------------------------------------------------

def over_splitting(stats: LatentFactorStats, precision_min: float = 0.8, recall_min: float = 0.05,
                   recall_max: float = 0.5, coverage_min: float = 0.5, f1_max: float = 0.7) -> list[dict]:
    """Values spread over several precise latents, none of which covers them (Makelov et al. sec. 6).

    A value is over-split when at least two latents are precise for it (precision >= precision_min,
    recall >= recall_min so that a rare stray latent does not count), none of them has recall >=
    recall_max, together they cover it (summed recall >= coverage_min) and no latent at all reaches
    F1 >= f1_max (a single latent that owns the value is not a failure). Two precise halves have
    F1 ~ 0.6 each, hence f1_max above 2/3 by default.
    Returns [{"value", "latents", "precision", "recall", "coverage", "best_f1"}].
    """
    found = []
    for v in range(stats.f1.shape[1]):
        p, r = stats.precision[:, v], stats.recall[:, v]
        precise = ((p >= precision_min) & (r >= recall_min)).nonzero().squeeze(1)
        precise = precise[r[precise].argsort(descending=True)]
        best_f1 = stats.f1[:, v].max().item()
        if (len(precise) >= 2 and r[precise].max() < recall_max and r[precise].sum() >= coverage_min
                and best_f1 < f1_max):
            found.append({"value": v, "latents": precise.tolist(), "precision": p[precise].tolist(),
                          "recall": r[precise].tolist(), "coverage": r[precise].sum().item(), "best_f1": best_f1})
    return found


def occlusion(probe_f1: torch.Tensor, stats: LatentFactorStats, probe_min: float = 0.9,
              f1_min: float = 0.5) -> list[dict]:
    """Values a linear probe reads well (one-vs-rest F1 >= probe_min) that own no latent (best F1 < f1_min):
    the information is in the activations but the SAE hides it, e.g. under a more salient factor's
    latents in the TopK competition (Makelov et al. sec. 6). Returns [{"value", "probe_f1", "best_f1",
    "best_latent"}]."""
    best, latent = best_latents(stats.f1)
    return [{"value": v, "probe_f1": probe_f1[v].item(), "best_f1": best[v].item(), "best_latent": latent[v].item()}
            for v in range(len(best)) if probe_f1[v] >= probe_min and best[v] < f1_min]


# --- all of it, per factor ----------------------------------------------------------------------------

def factor_report(sae: SparseAutoencoder, acts: torch.Tensor, codes: dict[str, torch.Tensor],
                  n_values: dict[str, int], probes: dict[str, Probe] | None = None, batch: int = 4096) -> dict:
    """The whole evaluation, as plain data for the CLI and the app:

        {"supervised_ev": float, "sae_ev": float,
         "factors": {f: {"best_f1": [V], "best_latent": [V], "probe_f1": [V],
                         "supervised_edit_rate": float, "sae_edit_rate": float,
                         "over_splitting": [...], "occlusion": [...]}}}

    probes: a fitted Probe per factor (fit on held-out rows, ideally); fitted here on acts if missing.
    Thresholds are the functions' defaults; call them directly to change them.
    """
    _check_codes(acts, codes, n_values)
    dictionary = supervised_dictionary(acts, codes, n_values)
    x_hat = torch.zeros(len(acts), acts.shape[1], dtype=torch.float64)
    for start, out in _sae_outputs(sae, acts, batch):
        x_hat[start:start + len(out.x_hat)] = out.x_hat.double() * sae.scale.item()
    report = {"supervised_ev": dictionary_explained_variance(dictionary, acts, codes),
              "sae_ev": explained_variance(acts.double(), x_hat), "factors": {}}
    for f, c in codes.items():
        probe = (probes or {}).get(f) or fit_probe(acts, c, n_values[f])
        stats = sae_factor_stats(sae, acts, c, n_values[f], batch)
        best, latent = best_latents(stats.f1)
        p_f1 = probe_f1(probe, acts, c, n_values[f])
        report["factors"][f] = {
            "best_f1": best.tolist(), "best_latent": latent.tolist(), "probe_f1": p_f1.tolist(),
            "supervised_edit_rate": supervised_edit_rate(acts, c, dictionary.vectors[f], probe)["rate"],
            "sae_edit_rate": sae_edit_rate(sae, acts, c, stats, probe, batch=batch)["rate"],
            "over_splitting": over_splitting(stats), "occlusion": occlusion(p_f1, stats)}
    return report
