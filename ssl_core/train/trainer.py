"""The one trainer: anything in the method registry (SSL methods, classifiers, sparse autoencoders), any
backbone, CUDA / MPS / CPU, one process or many under torchrun, bfloat16 autocast, AdamW with a schedule,
EMA teachers (through the method's `after_step`), gradient clipping, a budget in steps, epochs or minutes,
periodic evaluation beside baselines (`monitors.py`), atomic checkpoints, exact resume and a NaN guard.

Read `Trainer.run` top to bottom: setup (the DDP preamble, data, model, optimiser, resume), then the loop.

Exact resume needs no saved random state: the data order of epoch e is a permutation seeded by
(seed, e), and the random draws of step s come from a generator seeded by (seed, s). Under torchrun
every rank takes its slice of the same global batch and draws the global batch's augmentations
(`ssl_core.distributed`), so N processes train exactly what one process would.
"""

import gc
import math
import os
import signal
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ssl_core import distributed
from ssl_core.data import IMAGENET, load_data
from ssl_core.devices import autocast, pick_device, use_bf16
from ssl_core.errors import UserError
from ssl_core.eval.collapse import effective_rank, embedding_std
from ssl_core.files import atomic_write, read_json
from ssl_core.methods import get_method
from ssl_core.models.checkpoint import read_checkpoint
from ssl_core.runs import RunWriter, Slot, latest_checkpoint
from ssl_core.sae.tokens import sae_tokens
from ssl_core.train.config import TrainConfig
from ssl_core.train.monitors import AccuracyMonitor, KnnMonitor, to_device
from ssl_core.train.schedule import lr_factor

MONITORS = {"ssl": KnnMonitor, "classifier": AccuracyMonitor}
ESTIMATE_AFTER = 20  # steps: a budget in minutes becomes a budget in steps at the speed measured by then (for the
# EMA teachers' momentum; the learning rate keeps following the clock)


class Diverged(UserError):
    """The loss became NaN or infinite."""


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norm weights and tokens (as DINO, MAE and timm)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(("token", "pos_embed")) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def optimizer_tensors(opt) -> tuple[dict, list]:
    """Optimiser state as flat tensors for safetensors, plus its param groups as JSON."""
    sd = opt.state_dict()
    tensors = {f"optim.{pid}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for pid, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def load_optimizer(opt, tensors: dict, groups: list) -> None:
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def training_data(cfg: TrainConfig, kind: str):
    """The training data a config names: images for SSL methods and classifiers, feature tokens for SAEs."""
    if kind == "sae":
        return sae_tokens(cfg)
    return load_data(cfg.data, "train", cfg.size, cfg.limit), None


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir=None, data=None, test=None, log=print):
        self.cfg, self.run_dir, self.log = cfg.validate(), Path(run_dir) if run_dir else None, log
        self.data, self.test = data, test
        self.master = int(os.environ.get("RANK", 0)) == 0  # torchrun's rank 0 writes; `setup` joins the group
        self.writer = RunWriter(self.run_dir, active=self.master)
        self.stop_requested = False
        self.step, self.train_time, self.metrics = 0, 0.0, {}

    # ---- setup ---------------------------------------------------------------------------------

    def setup(self, resume: bool):
        cfg = self.cfg
        # The DDP preamble (nanoGPT): which rank this is, which device it drives, whether it writes.
        self.dist = distributed.setup(cfg.device)
        cuda_rank = self.dist.world > 1 and torch.cuda.is_available() and cfg.device in ("auto", "cuda")
        self.device = torch.device("cuda", self.dist.local_rank) if cuda_rank else pick_device(cfg.device)
        self.bf16 = use_bf16(cfg.dtype, self.device)
        if cfg.dtype == "fp64":  # every tensor made from here on is float64 (restored when the run ends)
            torch.set_default_dtype(torch.float64)
        self.kind = get_method(cfg.method).kind
        self.speed_key = "tokens_per_s" if self.kind == "sae" else "images_per_s"

        if self.data is None:
            self.data, test = training_data(cfg, self.kind)
            self.test = test if self.test is None else self.test
        n, world = len(self.data), self.dist.world
        if self.kind == "sae" and n < cfg.batch_size:  # a batch of tokens: as many as there are, when fewer
            self.log(f"batch size lowered from {cfg.batch_size} to {n}: the features hold {n} training tokens")
            cfg.batch_size = n - n % world
        if n < cfg.batch_size:
            raise UserError(f"batch size {cfg.batch_size} is larger than the dataset ({n} examples): "
                            f"use --batch-size {max(2, n)} or less")
        if cfg.batch_size % world:
            raise UserError(f"batch size {cfg.batch_size} does not split over {world} processes: "
                            f"use a multiple of {world} (--batch-size is the global batch)")
        self.local_batch = cfg.batch_size // world
        self.steps_per_epoch = n // cfg.batch_size
        if self.device.type == "cuda" and hasattr(self.data, "images"):  # decoded uint8 data is small
            self.data.images = self.data.images.to(self.device)

        torch.manual_seed(cfg.seed)  # the same initialisation on every rank (DDP also broadcasts it)
        self.method = get_method(cfg.method).build(cfg, self.data).to(self.device)
        self.budget_steps = self.total_steps()  # a budget in minutes is estimated once the speed is known
        self.method.set_budget(self.budget_steps)  # EMA teachers fit their momentum to it
        if world > 1:
            self.method = distributed.convert_sync_batchnorm(self.method)
        # foreach: one fused update over all tensors (torch's default on CUDA; on CPUs it saves a third of a small
        # model's step time)
        self.opt = torch.optim.AdamW(param_groups(self.method, cfg.weight_decay), lr=cfg.lr,
                                     betas=self.method.adam_betas or (0.9, 0.999), foreach=True)
        if resume:
            self._resume()
        self.model = self.method
        if world > 1:
            self.model = DistributedDataParallel(self.method, device_ids=[self.device.index] if cuda_rank else None,
                                                 forward_sync_buffers=False)
        monitor = MONITORS.get(self.kind) or self.method.monitor
        self.monitor = monitor(cfg, self.method, self.data, self.test, self.device, self.bf16, self.log) \
            if self.master else None

    def _resume(self):
        ckpt = latest_checkpoint(self.run_dir) if self.run_dir else None
        if ckpt is None:
            raise UserError(f"{self.run_dir} has no checkpoint to resume from: start it again instead")
        tensors, meta = read_checkpoint(ckpt)
        self.method.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        load_optimizer(self.opt, tensors, meta["optimizer"])
        self.step, self.train_time = meta["trainer"]["step"], meta["trainer"]["train_time"]
        self.budget_steps = meta["trainer"].get("budget_steps", self.budget_steps)
        self.method.set_budget(self.budget_steps)
        self.metrics = meta.get("metrics", {})
        self.writer.truncate_metrics(self.step)
        self.log(f"resumed from {ckpt.name} at step {self.step}")

    # ---- budget --------------------------------------------------------------------------------

    def total_steps(self) -> int | None:
        cfg = self.cfg
        if cfg.steps:
            return cfg.steps
        if cfg.epochs:
            return max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        return None

    def progress(self) -> float:
        total = self.total_steps()
        return self.step / total if total else self.train_time / (self.cfg.minutes * 60)

    # ---- one step ------------------------------------------------------------------------------

    def batch(self, step: int) -> dict:
        """This rank's slice of the global batch of `step`."""
        B, b, rank = self.cfg.batch_size, self.local_batch, self.dist.rank
        epoch, i = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        idx = torch.randperm(len(self.data), generator=g)[i * B:(i + 1) * B][rank * b:(rank + 1) * b]
        return to_device(self.data.batch(idx), self.device)

    def train_step(self):
        cfg = self.cfg
        batch = self.batch(self.step)
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1_000_003 + self.step)
        lr = cfg.lr * lr_factor(self.progress(), cfg, self.total_steps())
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        with autocast(self.device, self.bf16):
            out = self.model(batch, gen)
        loss_value = distributed.all_reduce_mean(out.loss.detach().float()).item()
        if not math.isfinite(loss_value):
            self._diverged(f"loss = {loss_value}")
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        # The gradient norm (clipped to clip_grad, or only measured): a non-finite one stops before the step,
        # so neither the weights nor the optimiser state ever hold an inf.
        norm = torch.nn.utils.clip_grad_norm_(self.method.parameters(), cfg.clip_grad or float("inf"))
        if not torch.isfinite(norm):
            self._diverged("the gradient is not finite")
        self.opt.step()
        self.step += 1
        self.method.after_step(min(1.0, self.progress()))
        emb = out.embedding.detach() if out.embedding is not None else None
        return loss_value, {"lr": lr, **out.logs}, emb

    def _diverged(self, what: str):
        saved = latest_checkpoint(self.run_dir) if self.run_dir else None
        keep = f"the last good checkpoint ({saved.name}) is kept: resume it with a lower learning rate" if saved \
            else "no checkpoint was saved before it: start again with a lower learning rate"
        raise Diverged(f"training diverged at step {self.step} ({what}); {keep} "
                       f"(now {self.cfg.lr:g}; try {self.cfg.lr / 10:g})")

    def _agree(self, step_time: float) -> None:
        """Ranks add the same time and honour a stop together (the slowest rank's time; anyone's stop, by signal
        or by the run's stop file)."""
        self.train_time += step_time
        self.stop_requested |= self.writer.stop_requested()
        if self.dist.world > 1:
            t = torch.tensor([self.train_time, float(self.stop_requested)], device=self.device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            self.train_time, self.stop_requested = float(t[0]), bool(t[1])

    # ---- the loop ------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> dict:
        self.setup(resume)
        self._status("running", "training", processes=self.dist.world)
        window_start, window_images, last_logged = time.perf_counter(), 0, self.step
        if self.step == 0:
            self._evaluate()
        while self.progress() < 1 and not self.stop_requested:
            t0 = time.perf_counter()
            loss, logs, emb = self.train_step()
            self._agree(time.perf_counter() - t0)
            if self.budget_steps is None and self.step == ESTIMATE_AFTER:
                self.budget_steps = round(self.cfg.minutes * 60 * self.step / max(self.train_time, 1e-9))
                self.method.set_budget(self.budget_steps)
            window_images += self.cfg.batch_size
            if self.step % self.cfg.log_every == 0 or self.progress() >= 1:
                now = time.perf_counter()
                row = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                       "time": round(self.train_time, 2), "loss": loss,
                       self.speed_key: round(window_images / max(1e-9, now - window_start), 1), **logs}
                if emb is not None and emb.ndim == 2 and emb.shape[0] > 1:
                    row.update(emb_std=embedding_std(emb.float()), eff_rank=effective_rank(emb.float()))
                self.writer.metrics(row)
                self._status("running", f"step {self.step}")
                window_start, window_images, last_logged = time.perf_counter(), 0, self.step
            if self.cfg.eval_every and self.step % self.cfg.eval_every == 0 and self.progress() < 1:
                self._evaluate()
            if self.step % self.cfg.ckpt_every == 0 and self.progress() < 1:
                self.save()
        if self.progress() >= 1 or self.step > last_logged:
            self._evaluate()
        path = self.save(final=self.progress() >= 1)
        state = "finished" if self.progress() >= 1 else "stopped"
        self._status(state, f"{state} at step {self.step}", checkpoint=str(path) if path else None)
        return {"state": state, "step": self.step, "checkpoint": str(path) if path else None,
                "train_time_s": round(self.train_time, 1), "metrics": self.metrics,
                "run_dir": str(self.run_dir) if self.run_dir else None}

    def _evaluate(self):
        if self.monitor is None:
            return
        self.metrics = self.monitor(self.method)
        if self.metrics:
            self.writer.metrics({"step": self.step, "time": round(self.train_time, 2), **self.metrics})
            self.log(f"step {self.step}: {self.monitor.summary(self.metrics)}")

    def save(self, final: bool = False) -> Path | None:
        if not (self.master and self.run_dir):
            return None
        tensors = {f"model.{k}": v for k, v in self.method.state_dict().items()}
        opt_tensors, groups = optimizer_tensors(self.opt)
        tensors.update(opt_tensors)
        data = {"spec": self.cfg.data, "size": getattr(self.data, "size", None)}
        meta = {**self.method.checkpoint_meta(), "method": self.cfg.method, "method_args": self.cfg.method_args,
                "data": data, "step": self.step, "metrics": self.metrics, "normalization": IMAGENET,
                "config": read_json(self.run_dir / "config.json", {}),
                "optimizer": groups, "trainer": {"step": self.step, "train_time": self.train_time, "final": final,
                            "budget_steps": self.budget_steps}}
        return self.writer.checkpoint(self.step, tensors, meta, self.cfg.keep_ckpts)

    def _status(self, state: str, message: str, **extra):
        ready = hasattr(self, "steps_per_epoch")
        total = self.total_steps() if ready else None
        p = min(1.0, self.progress()) if ready else 0.0
        eta = self.train_time * (1 - p) / p if p > 0 else None
        self.writer.status(state, message, step=self.step, progress=round(p, 4),
                           total_steps=total or (round(self.step / p) if p > 0 else None),
                           eta_s=round(eta, 1) if eta is not None else None, **extra)


def train(cfg: TrainConfig, run_dir=None, resume: bool = False, queue=None, max_concurrent: int = 2,
          data=None, test=None, log=print) -> dict:
    """Train `cfg` (into `run_dir`, created if needed; in memory without one); stops cleanly on SIGTERM and
    SIGINT with a checkpoint. `data` / `test` give the data directly instead of `cfg.data`."""
    run_dir = Path(run_dir) if run_dir else None
    master = int(os.environ.get("RANK", 0)) == 0
    trainer = Trainer(cfg, run_dir, data, test, log if master else (lambda *a: None))
    if run_dir and master and (not resume or not (run_dir / "config.json").exists()):
        atomic_write(run_dir / "config.json", cfg.to_json())

    def request_stop(signum, frame):
        trainer.stop_requested = True

    old_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    writer, finished = trainer.writer, False
    try:
        if queue is not None:
            # Runs launched side by side share the cores: more threads than cores makes every one of them
            # crawl (OpenMP threads spin waiting for each other), so each takes its share.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, max_concurrent)))
            slot = Slot(queue, max_concurrent)
            while not slot.try_acquire():
                writer.status("queued", f"waiting for one of {max_concurrent} training slots")
                if trainer.stop_requested or writer.stop_requested():
                    writer.status("stopped", "stopped while queued")
                    return {"state": "stopped", "step": 0}
                time.sleep(1.0)
        result = trainer.run(resume)
        finished = True
        return result
    except Diverged as e:
        writer.status("diverged", str(e), step=trainer.step)
        raise
    except BaseException as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        writer.status("failed", message if isinstance(e, UserError) else f"{type(e).__name__}: {message}",
                      step=trainer.step)
        raise
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        torch.set_default_dtype(torch.float32)
        # Nothing may hold the process group when it goes: DDP's reducer keeps gloo work alive, and destroying
        # it after the group (at interpreter exit) can abort in C++ ("terminate called without an active
        # exception", seen twice in CI).
        trainer.model = None
        gc.collect()
        distributed.teardown(finished)
