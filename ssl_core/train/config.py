"""Everything that defines a training run, in one dataclass that is saved as the run's `config.json`.

One config for every kind of run: `method` names what is trained (an SSL method, `supervised` for a
classifier, `sae` for a sparse autoencoder; see `python -m ssl_core methods`), `data` what it reads.
"""

import json
import math
import types
from dataclasses import asdict, dataclass, field, fields

from ssl_core.errors import UserError


DTYPES = ("auto", "bf16", "fp32", "fp64")


ALL_KINDS = ("ssl", "classifier", "sae")


def _f(default, doc: str, kinds=ALL_KINDS, **kw):
    return field(default=default, metadata={"doc": doc, "kinds": kinds}, **kw)


@dataclass
class TrainConfig:
    method: str = _f("simclr", "What to train: a self-supervised method (see `python -m ssl_core methods`), "
                               "supervised (a classifier) or sae (a sparse autoencoder).")
    data: str = _f("shapes", "A built-in dataset (shapes, digits, photos) or a folder of images.")
    backbone: str = _f("vit", "The network that learns the features: vit, vit-small, resnet18, ...")
    size: int | None = _f(None, "Training resolution in pixels; by default the data's own (32 for shapes).")
    limit: int | None = _f(None, "Use only this many training images (a fair, shuffled subset).")
    batch_size: int = _f(256, "Images per step. Contrastive methods like large batches: more negatives.")
    lr: float = _f(1e-3, "Peak learning rate of AdamW, reached after the warm-up.")
    weight_decay: float = _f(0.05, "AdamW weight decay (not applied to biases, norms and tokens).")
    steps: int | None = _f(None, "Training budget in optimiser steps.")
    epochs: float | None = _f(None, "Training budget in passes over the data.")
    minutes: float | None = _f(None, "Training budget in wall-clock minutes; schedules follow elapsed time.")
    warmup: float = _f(0.05, "Fraction of the budget spent ramping the learning rate up from zero (at least 50 "
                             "steps, at most a fifth of the run, when the budget is in steps or epochs).")
    schedule: str = _f("cosine", "cosine decays to min_lr; infinite cools down to a constant and anneals "
                                 "at the end; constant holds the rate.")
    min_lr: float = _f(0.0, "Learning rate at the end of cosine decay and of the infinite schedule's anneal, "
                            "as a fraction of the peak (0: the exponential anneal ends at 1%).")
    cooldown: float = _f(0.1, "Infinite schedule: fraction of the budget spent cooling to the constant rate.")
    constant_lr: float = _f(0.3, "Infinite schedule: the constant rate, as a fraction of the peak.")
    anneal: float = _f(0.1, "Infinite schedule: final fraction of the budget annealed to zero (0 = never).")
    clip_grad: float = _f(3.0, "Clip the gradient norm to this value (0 = off); guards against spikes.")
    dtype: str = _f("auto", "auto uses bfloat16 autocast where the hardware supports it, else float32; fp64 "
                            "(slow) is for checking that two runs are the same to rounding.")
    device: str = _f("auto", "auto picks CUDA, then Apple MPS, then the CPU.")
    seed: int = _f(0, "Seed of initialisation, data order and augmentations: same seed, same run.")
    log_every: int = _f(10, "Write a metrics line every this many steps.")
    eval_every: int = _f(200, "Evaluate on held-out data every this many steps (0 = only at the end): kNN "
                              "accuracy for SSL, test accuracy for classifiers, explained variance for SAEs.")
    knn_bank: int = _f(5000, "Training images in the kNN memory bank.", kinds=("ssl",))
    knn_test: int = _f(1000, "Held-out images the kNN accuracy is measured on.", kinds=("ssl",))
    ckpt_every: int = _f(500, "Save a checkpoint every this many steps (and always at the end).")
    keep_ckpts: int = _f(3, "Periodic checkpoints to keep (the final one is always kept).")
    method_args: dict = _f(None, "Method hyper-parameters (see the method's parameters).",)
    checkpoint: str | None = _f(None, "The model whose features the sparse autoencoder learns.", kinds=("sae",))
    layer: int = _f(-1, "The block (or stage) whose outputs it reads (-1: the last).", kinds=("sae",))
    tokens: str = _f("patch", "patch tokens (every patch of every image) or cls (one token an image).", kinds=("sae",))
    features: str | None = _f(None, "A feature file (`python -m ssl_core features`) instead of a checkpoint.",
                              kinds=("sae",))

    def __post_init__(self):
        self.method_args = dict(self.method_args or {})

    def validate(self) -> "TrainConfig":
        for f in fields(self):
            _check_type(f.name, f.type, getattr(self, f.name))
        checks = [
            (2 <= self.batch_size <= 65536, f"batch size must be 2 to 65536 (got {self.batch_size})"),
            (0 < self.lr <= 10, f"learning rate must be positive and at most 10 (got {self.lr:g}); try 1e-3"),
            (0 <= self.weight_decay <= 10, f"weight decay must be 0 to 10 (got {self.weight_decay})"),
            (0 <= self.warmup < 1, f"warmup is a fraction of the budget in [0, 1) (got {self.warmup})"),
            (self.schedule in ("cosine", "infinite", "constant"),
             f"unknown schedule {self.schedule!r}: use cosine, infinite or constant"),
            (self.dtype in DTYPES, f"unknown dtype {self.dtype!r}: use auto, bf16, fp32 or fp64"),
            (self.clip_grad >= 0, f"clip_grad must be zero or positive (got {self.clip_grad})"),
            (self.size is None or 8 <= self.size <= 1024, f"size must be between 8 and 1024 px (got {self.size})"),
            (self.log_every >= 1 and self.ckpt_every >= 1, "log_every and ckpt_every must be at least 1"),
            (self.eval_every >= 0 and self.knn_bank >= 1 and self.knn_test >= 1 and self.keep_ckpts >= 1,
             "eval_every must be 0 or more, and knn_bank, knn_test and keep_ckpts at least 1"),
            (0 <= self.min_lr <= 1 and 0 <= self.constant_lr <= 1, "min_lr and constant_lr are fractions of the peak: 0 to 1"),
            (0 <= self.cooldown < 1 and 0 <= self.anneal < 1, "cooldown and anneal are fractions of the budget in [0, 1)"),
            (self.tokens in ("patch", "cls"), f"tokens must be patch or cls (got {self.tokens!r})"),
            (self.limit is None or self.limit >= 1, f"limit must be at least 1 (got {self.limit})"),
        ]
        budgets = [b for b in (self.steps, self.epochs, self.minutes) if b is not None]
        checks.append((len(budgets) <= 1, "give one budget: steps, epochs or minutes"))
        checks.append((all(b > 0 for b in budgets), "the training budget must be positive"))
        checks.append((self.steps is None or self.steps <= 10**8, "steps must be at most 100,000,000"))
        checks.append((self.epochs is None or self.epochs <= 10**5, "epochs must be at most 100,000"))
        checks.append((self.minutes is None or self.minutes <= 7 * 24 * 60,
                       f"minutes must be at most a week ({7 * 24 * 60}); got {self.minutes:g}" if self.minutes else ""))
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        if not budgets:
            self.steps = 1000
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise UserError(f"a config is a JSON object of fields, not {type(d).__name__}")
        d = dict(d)
        if "knn_every" in d:  # its name before runs had kinds
            d["eval_every"] = d.pop("knn_every")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UserError(f"unknown config field(s) {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, RecursionError) as e:
            raise UserError(f"config is not valid JSON: {str(e)[:100]}") from None


def _check_type(name: str, tp, value) -> None:
    """A one-line UserError unless `value` fits the field's type (a number where a number belongs, finite)."""
    optional = isinstance(tp, types.UnionType) and type(None) in tp.__args__
    base = next(a for a in tp.__args__ if a is not type(None)) if optional else tp
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value is None:
        ok = optional
    elif base is int:
        ok = number and math.isfinite(value) and float(value).is_integer()
    elif base is float:
        ok = number
    else:
        ok = isinstance(value, base)
    if not ok:
        what = {int: "a whole number", float: "a number"}.get(base, f"a {base.__name__}")
        raise UserError(f"{name} must be {what}{' or empty' if optional else ''}, not {value!r}")
    if number and not math.isfinite(value):
        raise UserError(f"{name} must be a finite number, not {value}")


def field_docs(kind: str | None = None) -> dict[str, str]:
    """One sentence of explanation per config field (of the fields a kind of run uses), for the Train page."""
    return {f.name: f.metadata["doc"] for f in fields(TrainConfig) if kind is None or kind in f.metadata["kinds"]}
