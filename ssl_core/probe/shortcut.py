"""The latent shortcut lab: train a model on the study's data with the one trainer, read its decisions on the
latent grid, and measure its shortcut bias beside the Bayes-optimal rule (Hermann, Mobahi, Fel, Mozer,
"On the Foundations of Shortcut Learning", ICLR 2024; the data and the bias formula are in `latent.py`).

A cell is one setting (a LatentSpec and a model) trained over several seeds (the seed changes the data's
random maps and samples, and the model's initialisation); every figure is a mean over seeds with its
standard deviation. A sweep is cells over availability ratios x shortcut predictivities: the paper's
heatmap. Models are linear, or MLPs of 1 to 3 hidden layers (ReLU or Tanh), trained by
`ssl_core.train.trainer` as supervised classifiers on the input vectors.
"""

import math
import statistics
from dataclasses import asdict, dataclass, replace

import torch

from ssl_core.data import TensorData
from ssl_core.errors import UserError
from ssl_core.probe.latent import (
    LatentSpec,
    availability_ratio,
    bayes_accuracy,
    bayes_decision,
    embed,
    latent_grid,
    reliance,
    sample,
    sweep_specs,
)
from ssl_core.train.config import TrainConfig
from ssl_core.train.trainer import Trainer

MODELS = ("linear", "mlp")
ACTIVATIONS = ("relu", "tanh")


# Epochs and learning rate that train each model to convergence on this data (measured: test accuracy within
# 0.005 of the Bayes rate; a linear model needs a larger rate, its weight on a weakly amplified feature must
# grow large).
BUDGET = {"linear": (60.0, 1e-2), "mlp": (20.0, 1e-3)}


@dataclass(frozen=True)
class ModelSpec:
    """Which model the lab trains, and how long (None: to convergence, see BUDGET; AdamW, batch 200)."""

    model: str = "mlp"
    depth: int = 1
    activation: str = "relu"
    hidden: int = 256
    epochs: float | None = None
    lr: float | None = None
    batch_size: int = 200

    def validate(self) -> "ModelSpec":
        if self.model not in MODELS:
            raise UserError(f"unknown model {self.model!r}: use linear or mlp")
        if self.model == "mlp" and not (isinstance(self.depth, int) and 1 <= self.depth <= 3):
            raise UserError(f"an MLP has 1 to 3 hidden layers (got depth {self.depth}); a linear model is --model linear")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {self.activation!r}: use relu or tanh")
        if not (isinstance(self.hidden, int) and 1 <= self.hidden <= 4096):
            raise UserError(f"hidden must be 1 to 4096 units (got {self.hidden})")
        epochs, lr = self.budget
        if not (isinstance(epochs, int | float) and math.isfinite(epochs) and 0 < epochs <= 1000):
            raise UserError(f"epochs must be a positive number up to 1000 (got {epochs})")
        if not (isinstance(lr, int | float) and math.isfinite(lr) and 0 < lr <= 1):
            raise UserError(f"the learning rate must be in (0, 1] (got {lr})")
        return self

    @property
    def budget(self) -> tuple[float, float]:
        """(epochs, learning rate): the ones given, else those that train this model to convergence."""
        epochs, lr = BUDGET[self.model] if self.model in BUDGET else (None, None)
        return self.epochs or epochs, self.lr or lr

    @property
    def backbone(self) -> str:
        if self.model == "linear":
            return "linear"
        return f"mlp:depth={self.depth},hidden={self.hidden},act={self.activation}"

    @property
    def label(self) -> str:
        return "linear" if self.model == "linear" else f"MLP, {self.depth} hidden ({self.activation})"


def fit(spec: LatentSpec, m: ModelSpec, seed: int = 0):
    """The trained classifier (a `ssl_core.methods.Classifier`) of one seed, and its test accuracy."""
    _, y, x = sample(spec, split="train")
    _, yt, xt = sample(spec, split="test")
    epochs, lr = m.budget
    cfg = TrainConfig(method="supervised", backbone=m.backbone, batch_size=m.batch_size, epochs=epochs, lr=lr,
                      weight_decay=0.0, warmup=0.0, schedule="constant", eval_every=0, log_every=10**8, dtype="fp32",
                      device="cpu", seed=seed, clip_grad=0.0)
    trainer = Trainer(cfg, None, TensorData({"inputs": x, "labels": (y > 0).long()}),
                      TensorData({"inputs": xt, "labels": (yt > 0).long()}), log=lambda *a: None)
    result = trainer.run()
    return trainer.method, result["metrics"]["test_acc"]


def grid_decisions(method, spec: LatentSpec, grid: torch.Tensor) -> torch.Tensor:
    """The model's decisions in {-1, +1} at the grid's latents (through the same embedding as its data)."""
    return method.predict({"inputs": embed(spec, grid)}) * 2 - 1


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def cell(spec: LatentSpec, m: ModelSpec, seeds: int = 3) -> dict:
    """Bias, reliances and accuracies of the model and of the Bayes rule, means over `seeds` (0, 1, ...),
    with the standard deviations, and the decision regions of the first seed (model and Bayes, n x n)."""
    m.validate()
    if not (isinstance(seeds, int) and 1 <= seeds <= 20):
        raise UserError(f"seeds must be 1 to 20 (got {seeds})")
    runs = []
    for s in range(seeds):
        s_spec = replace(spec, seed=s)
        grid = latent_grid(s_spec)
        method, acc = fit(s_spec, m, s)
        decided, bayes = grid_decisions(method, s_spec, grid), bayes_decision(s_spec, grid)
        runs.append({"reliance_model": reliance(decided, grid), "reliance_bayes": reliance(bayes, grid),
                     "accuracy": acc, "decisions": decided, "bayes": bayes, "grid": grid})
    for r in runs:
        r["bias"] = r["reliance_model"] - r["reliance_bayes"]
    out = {"spec": asdict(spec), "model": asdict(m), "seeds": seeds, "availability_ratio": availability_ratio(spec),
           "bayes_accuracy": bayes_accuracy(spec)}
    for key in ("bias", "reliance_model", "reliance_bayes", "accuracy"):
        out[key], out[f"{key}_std"] = _mean_std([r[key] for r in runs])
    n = round(math.sqrt(len(runs[0]["grid"])))
    out["regions"] = {"model": runs[0]["decisions"].view(n, n).tolist(), "bayes": runs[0]["bayes"].view(n, n).tolist(),
                      "grid": runs[0]["grid"].view(n, n, 2)[[0, -1]][:, [0, -1]].tolist()}
    return out


def sweep(alpha_ratios, rho_shortcuts, m: ModelSpec, seeds: int = 3, base: LatentSpec | None = None,
          progress=None) -> list[dict]:
    """One cell per (availability ratio, shortcut predictivity), ratio-major; `progress(done, total)`."""
    base = base or LatentSpec()
    specs = sweep_specs(alpha_ratios, rho_shortcuts, nest_core=base.nest_core, nest_shortcut=base.nest_shortcut,
                        dim=base.dim, n_train=base.n_train, n_test=base.n_test)
    rows = []
    for i, spec in enumerate(specs):
        c = cell(spec, m, seeds)
        rows.append({k: v for k, v in c.items() if k != "regions"} | {"alpha_ratio": spec.alpha_shortcut / spec.alpha_core,
                                                                      "rho_shortcut": spec.rho_shortcut})
        if progress:
            progress(i + 1, len(specs))
    return rows


def parse_list(text: str, what: str) -> list[float]:
    """'1,2,4' -> [1.0, 2.0, 4.0], with a one-line error for anything else."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} takes a comma list of numbers, such as 0.5,1,2 (got {text!r})") from None
    if not values or len(values) > 12:
        raise UserError(f"{what} takes 1 to 12 numbers (got {len(values)})")
    return values
