"""Everything that defines a training run, in one dataclass that is saved as the run's `config.json`."""

import json
from dataclasses import asdict, dataclass, field, fields

from ssl_core.errors import UserError


def _f(default, doc: str, **kw):
    return field(default=default, metadata={"doc": doc}, **kw)


@dataclass
class TrainConfig:
    method: str = _f("simclr", "The self-supervised method (see `python -m ssl_core methods`).")
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
    warmup: float = _f(0.05, "Fraction of the budget spent ramping the learning rate up from zero.")
    schedule: str = _f("cosine", "cosine decays to min_lr; infinite cools down to a constant and anneals "
                                 "at the end; constant holds the rate.")
    min_lr: float = _f(0.0, "Learning rate at the end of cosine decay, as a fraction of the peak.")
    cooldown: float = _f(0.1, "Infinite schedule: fraction of the budget spent cooling to the constant rate.")
    constant_lr: float = _f(0.3, "Infinite schedule: the constant rate, as a fraction of the peak.")
    anneal: float = _f(0.1, "Infinite schedule: final fraction of the budget annealed to zero (0 = never).")
    clip_grad: float = _f(3.0, "Clip the gradient norm to this value (0 = off); guards against spikes.")
    dtype: str = _f("auto", "auto uses bfloat16 autocast where the hardware supports it, else float32.")
    device: str = _f("auto", "auto picks CUDA, then Apple MPS, then the CPU.")
    seed: int = _f(0, "Seed of initialisation, data order and augmentations: same seed, same run.")
    log_every: int = _f(10, "Write a metrics line every this many steps.")
    knn_every: int = _f(200, "Measure kNN accuracy on held-out data every this many steps (0 = only at the end).")
    knn_bank: int = _f(5000, "Training images in the kNN memory bank.")
    knn_test: int = _f(1000, "Held-out images the kNN accuracy is measured on.")
    ckpt_every: int = _f(500, "Save a checkpoint every this many steps (and always at the end).")
    keep_ckpts: int = _f(3, "Periodic checkpoints to keep (the final one is always kept).")
    method_args: dict = _f(None, "Method hyper-parameters (see the method's parameters).",)

    def __post_init__(self):
        self.method_args = dict(self.method_args or {})

    def validate(self) -> "TrainConfig":
        checks = [
            (self.batch_size >= 2, f"batch size must be at least 2 (got {self.batch_size})"),
            (self.lr > 0, f"learning rate must be positive (got {self.lr}); try 1e-3"),
            (self.weight_decay >= 0, f"weight decay must be zero or positive (got {self.weight_decay})"),
            (0 <= self.warmup < 1, f"warmup is a fraction of the budget in [0, 1) (got {self.warmup})"),
            (self.schedule in ("cosine", "infinite", "constant"),
             f"unknown schedule {self.schedule!r}: use cosine, infinite or constant"),
            (self.dtype in ("auto", "bf16", "fp32"), f"unknown dtype {self.dtype!r}: use auto, bf16 or fp32"),
            (self.clip_grad >= 0, f"clip_grad must be zero or positive (got {self.clip_grad})"),
            (self.size is None or 8 <= self.size <= 1024, f"size must be between 8 and 1024 px (got {self.size})"),
            (self.log_every >= 1 and self.ckpt_every >= 1, "log_every and ckpt_every must be at least 1"),
        ]
        budgets = [b for b in (self.steps, self.epochs, self.minutes) if b is not None]
        checks.append((len(budgets) <= 1, "give one budget: steps, epochs or minutes"))
        checks.append((all(b > 0 for b in budgets), "the training budget must be positive"))
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
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UserError(f"unknown config field(s) {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UserError(f"config is not valid JSON: {e}") from None


def field_docs() -> dict[str, str]:
    """One sentence of explanation per config field, for `--help` and the Train page."""
    return {f.name: f.metadata["doc"] for f in fields(TrainConfig)}
