"""The one trainer: any method, any backbone, CUDA / MPS / CPU, bfloat16 autocast, AdamW with a
schedule, EMA teachers (through the method's `after_step`), gradient clipping, a budget in steps,
epochs or minutes, periodic kNN with its baselines, atomic checkpoints, exact resume and a NaN guard.

Exact resume needs no saved random state: the data order of epoch e is a permutation seeded by
(seed, e), and the augmentations of step s draw from a generator seeded by (seed, s).
"""

import math
import os
import signal
import time
from pathlib import Path

import torch

from ssl_core.analysis.features import extract
from ssl_core.data import load_data
from ssl_core.data.augment import IMAGENET_MEAN, IMAGENET_STD
from ssl_core.devices import autocast, pick_device, use_bf16
from ssl_core.errors import UserError
from ssl_core.eval.baselines import pixel_features
from ssl_core.eval.collapse import effective_rank, embedding_std
from ssl_core.eval.knn import knn_accuracy
from ssl_core.methods import build_method
from ssl_core.models import build_backbone, parse_backbone
from ssl_core.models.checkpoint import read_checkpoint, save_checkpoint
from ssl_core.train import runs
from ssl_core.train.config import TrainConfig
from ssl_core.train.schedule import lr_factor

NORMALIZATION = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


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


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir, log=print):
        self.cfg, self.run_dir, self.log = cfg.validate(), Path(run_dir), log
        self.stop_requested = False
        self.step, self.train_time, self.metrics = 0, 0.0, {}

    # ---- setup ---------------------------------------------------------------------------------

    def setup(self, resume: bool):
        cfg = self.cfg
        self.device = pick_device(cfg.device)
        self.bf16 = use_bf16(cfg.dtype, self.device)
        self.data = load_data(cfg.data, "train", cfg.size, cfg.limit)
        n = len(self.data)
        if n < cfg.batch_size:
            raise UserError(f"batch size {cfg.batch_size} is larger than the dataset ({n} images): "
                            f"use --batch-size {max(2, n)} or less")
        self.size = self.data.images.shape[-1]
        if self.device.type == "cuda":  # decoded uint8 data is small: keep it on the GPU
            self.data.images = self.data.images.to(self.device)
        self.steps_per_epoch = n // cfg.batch_size
        torch.manual_seed(cfg.seed)
        self.arch = parse_backbone(cfg.backbone, self.size)
        self.method = build_method(cfg.method, build_backbone(self.arch), cfg.method_args).to(self.device)
        self.opt = torch.optim.AdamW(param_groups(self.method, cfg.weight_decay), lr=cfg.lr)
        if resume:
            self._resume()
        self._setup_knn()

    def _resume(self):
        ckpt = runs.latest_checkpoint(self.run_dir)
        if ckpt is None:
            raise UserError(f"{self.run_dir} has no checkpoint to resume from")
        tensors, meta = read_checkpoint(ckpt)
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        self.method.load_state_dict(state)
        load_optimizer(self.opt, tensors, meta["optimizer"])
        self.step, self.train_time = meta["trainer"]["step"], meta["trainer"]["train_time"]
        self.metrics = meta.get("metrics", {})
        runs.truncate_metrics(self.run_dir, self.step)
        self.log(f"resumed from {ckpt.name} at step {self.step}")

    def _setup_knn(self):
        """Held-out data for kNN, and the baselines measured once: raw pixels and a random-init network."""
        self.knn = None
        if not self.data.labelled:
            self.log("data has no labels: kNN accuracy is not measured")
            return
        test = load_data(self.cfg.data, "test", self.size, None)
        g = torch.Generator().manual_seed(self.cfg.seed)
        bank = self.data.subset(torch.randperm(len(self.data), generator=g)[: self.cfg.knn_bank])
        test = test.subset(torch.randperm(len(test), generator=g)[: self.cfg.knn_test])
        self.knn = (bank, test)
        ks = (20, 200)
        pix = knn_accuracy(pixel_features(bank.images), bank.labels, pixel_features(test.images), test.labels, ks)
        torch.manual_seed(self.cfg.seed + 1)
        random_net = build_backbone(self.arch).to(self.device)
        rnd = self._knn_of(random_net)
        self.baselines = {"knn_pixels_k20": pix[20], "knn_pixels_k200": pix[200],
                          "knn_random_k20": rnd["knn_k20"], "knn_random_k200": rnd["knn_k200"]}

    def _knn_of(self, backbone) -> dict:
        bank, test = self.knn
        f_bank = extract(backbone, bank.images, NORMALIZATION, device=self.device, bf16=self.bf16)
        f_test = extract(backbone, test.images, NORMALIZATION, device=self.device, bf16=self.bf16)
        acc = knn_accuracy(f_bank, bank.labels, f_test, test.labels, (20, 200))
        return {"knn_k20": acc[20], "knn_k200": acc[200]}

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
        if total:
            return self.step / total
        return self.train_time / (self.cfg.minutes * 60)

    # ---- the loop ------------------------------------------------------------------------------

    def batch(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        idx = torch.randperm(len(self.data), generator=g)[i * self.cfg.batch_size:(i + 1) * self.cfg.batch_size]
        return self.data.images[idx.to(self.data.images.device)].to(self.device, non_blocking=True)

    def train_step(self) -> tuple[float, dict, torch.Tensor]:
        cfg = self.cfg
        images = self.batch(self.step)
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1_000_003 + self.step)
        lr = cfg.lr * lr_factor(self.progress(), cfg)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.method.train()
        with autocast(self.device, self.bf16):
            loss, logs, emb = self.method.training_step(images, gen)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise Diverged(f"training diverged at step {self.step} (loss = {loss_value}); the last good "
                           f"checkpoint is kept: resume it with a lower learning rate (now {cfg.lr:g})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), cfg.clip_grad)
        self.opt.step()
        self.step += 1
        self.method.after_step(min(1.0, self.progress()))
        return loss_value, {"lr": lr, **logs}, emb.detach()

    def run(self, resume: bool = False) -> dict:
        self.setup(resume)
        self._status("running", "training")
        window_start, window_images, last_logged = time.perf_counter(), 0, self.step
        if self.knn and self.step == 0:
            self._measure_knn()
        while self.progress() < 1 and not self.stop_requested:
            t0 = time.perf_counter()
            loss, logs, emb = self.train_step()
            self.train_time += time.perf_counter() - t0
            window_images += self.cfg.batch_size
            if self.step % self.cfg.log_every == 0 or self.progress() >= 1:
                now = time.perf_counter()
                row = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                       "time": round(self.train_time, 2), "loss": loss,
                       "images_per_s": round(window_images / max(1e-9, now - window_start), 1),
                       "emb_std": embedding_std(emb.float()), "eff_rank": effective_rank(emb.float()), **logs}
                runs.append_metrics(self.run_dir, row)
                self._status("running", f"step {self.step}")
                window_start, window_images, last_logged = time.perf_counter(), 0, self.step
            if self.knn and self.cfg.knn_every and self.step % self.cfg.knn_every == 0 and self.progress() < 1:
                self._measure_knn()
            if self.step % self.cfg.ckpt_every == 0 and self.progress() < 1:
                self.save()
        if self.knn and (self.progress() >= 1 or self.step > last_logged):
            self._measure_knn()
        path = self.save(final=self.progress() >= 1)
        state = "finished" if self.progress() >= 1 else "stopped"
        self._status(state, f"{state} at step {self.step}", checkpoint=str(path))
        return {"state": state, "step": self.step, "checkpoint": str(path), "train_time_s": round(self.train_time, 1),
                "metrics": self.metrics, "run_dir": str(self.run_dir)}

    def _measure_knn(self):
        acc = self._knn_of(self.method.eval_backbone)
        self.metrics = {**acc, **self.baselines}
        runs.append_metrics(self.run_dir, {"step": self.step, "time": round(self.train_time, 2), **self.metrics})
        self.log(f"step {self.step}: kNN top-1 {acc['knn_k200']:.3f} (k=200; raw pixels "
                 f"{self.baselines['knn_pixels_k200']:.3f}, random init {self.baselines['knn_random_k200']:.3f})")

    def save(self, final: bool = False) -> Path:
        tensors = {f"model.{k}": v for k, v in self.method.state_dict().items()}
        opt_tensors, groups = optimizer_tensors(self.opt)
        tensors.update(opt_tensors)
        meta = {"arch": self.arch, "backbone_prefix": self.method.backbone_prefix, "method": self.cfg.method,
                "method_args": self.cfg.method_args, "data": {"spec": self.cfg.data, "size": self.size},
                "step": self.step, "metrics": self.metrics, "normalization": NORMALIZATION,
                "config": runs.read_json(self.run_dir / "config.json", {}), "optimizer": groups,
                "trainer": {"step": self.step, "train_time": self.train_time, "final": final}}
        path = save_checkpoint(self.run_dir / "checkpoints" / f"step_{self.step:07d}.safetensors", tensors, meta)
        for old in runs.checkpoints(self.run_dir)[: -max(1, self.cfg.keep_ckpts)]:
            old.unlink(missing_ok=True)
        return path

    def _status(self, state: str, message: str, **extra):
        ready = hasattr(self, "steps_per_epoch")
        total = self.total_steps() if ready else None
        p = min(1.0, self.progress()) if ready else 0.0
        eta = self.train_time * (1 - p) / p if p > 0 else None
        old = runs.read_json(self.run_dir / "status.json", {})
        runs.write_json_atomic(self.run_dir / "status.json", {
            **old, "state": state, "message": message, "pid": os.getpid(), "step": self.step,
            "total_steps": total or (round(self.step / p) if p > 0 else None), "progress": round(p, 4),
            "eta_s": round(eta, 1) if eta is not None else None, "updated": time.time(), **extra})


def train(cfg: TrainConfig, run_dir, resume: bool = False, queue=None, max_concurrent: int = 2,
          log=print) -> dict:
    """Train `cfg` into `run_dir` (created if needed); stops cleanly on SIGTERM/SIGINT with a checkpoint."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume or not (run_dir / "config.json").exists():
        (run_dir / "config.json").write_text(cfg.to_json())
    trainer = Trainer(cfg, run_dir, log)

    def request_stop(signum, frame):
        trainer.stop_requested = True

    old_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if queue is not None:
            # Runs launched side by side share the cores: more threads than cores makes every one of them
            # crawl (OpenMP threads spin waiting for each other), so each takes its share.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, max_concurrent)))
            slot = runs.Slot(queue, max_concurrent)
            while not slot.try_acquire():
                trainer._status("queued", f"waiting for one of {max_concurrent} training slots")
                if trainer.stop_requested:
                    trainer._status("stopped", "stopped while queued")
                    return {"state": "stopped", "step": 0}
                time.sleep(1.0)
        return trainer.run(resume)
    except Diverged as e:
        trainer._status("diverged", str(e))
        raise
    except BaseException as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        trainer._status("failed", message if isinstance(e, UserError) else f"{type(e).__name__}: {message}")
        raise
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
