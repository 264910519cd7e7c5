"""A run is a folder, of any kind (`ssl`, `classifier`, `sae`), and everything reads and writes it here.

    run.json        kind, owner, name, created: who and what, written once
    config.json     the TrainConfig (`ssl_core.train.config`)
    status.json     state (queued, running, finished, stopped, failed, diverged), message, pid, progress
    metrics.jsonl   one JSON object a line: loss, learning rate, speed, collapse indicators, evaluations
    checkpoints/    step_NNNNNNN.safetensors (`ssl_core.models.checkpoint`), the last few kept
    train.log       what the training process printed

The trainer writes through `RunWriter`, and under torchrun only rank 0 does (the others get a writer that
writes nothing). The app and the CLI read through the functions below, the same way for every kind.

Training runs in its own process (`python -m ssl_core train --config ... --out ...`), started here
detached from the caller, so a UI stays responsive and a crash cannot take it down; a thread reaps it
when it ends, so no finished process lingers as a zombie. A machine-wide cap on concurrent runs is kept
with slot files locked by the training processes themselves: the OS frees a slot when its process dies,
so no daemon or bookkeeping is needed.

When one machine is not enough, `SSL_LAB_ENGINE=submitit` sends runs to a job engine instead: Slurm through
submitit (on a machine with `sbatch`), or submitit's local executor (`SSL_LAB_SUBMITIT_CLUSTER=local`).
Slurm is what university and lab clusters run, and submitit is a small pure-Python package with no server
of its own; the engine then does the queueing. Everything else stays a file in the run folder, so status,
metrics, stop (a `stop` file the trainer looks for at every step) and resume work the same through it,
from any machine that sees the folder.
"""

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ssl_core import cli
from ssl_core.errors import UserError
from ssl_core.files import atomic_write, read_json, remove_stale_temporaries, write_json
from ssl_core.methods import get_method
from ssl_core.models.checkpoint import save_checkpoint

ACTIVE = ("queued", "running")
HOST = socket.gethostname()
STOP = "stop"  # a file in the run folder: please stop, from whoever may
STALE_S = 15 * 60  # a run on another machine whose status is older than this has died
KINDS = ("ssl", "classifier", "sae")


# ---- reading ---------------------------------------------------------------------------------------

def read_info(run_dir) -> dict:
    """run.json: {"kind", "owner", "name", "preset", "created"}; runs from before owners read as unowned SSL runs."""
    info = read_json(Path(run_dir) / "run.json", None) or {}
    return {"kind": "ssl", "owner": "", "name": Path(run_dir).name, "preset": None, "created": 0.0, **info}


def read_metrics(run_dir) -> list[dict]:
    """Every metrics line; a line being written at this moment is skipped, not fatal."""
    out = []
    try:
        lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError, OverflowError):
        return False
    try:  # a zombie (finished, not yet reaped) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _alive(status: dict) -> bool:
    """Whether an active run's process lives: by its pid on this machine; by a fresh status on another (a job
    on a cluster's node); a job waiting in the engine's queue has no process yet."""
    host = status.get("host", HOST)
    if host == HOST:
        return _pid_alive(status.get("pid"))
    return host is None or time.time() - status.get("updated", 0) < STALE_S


def read_status(run_dir) -> dict:
    """The run's status; a run whose process vanished without saying so is reported as failed."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json", None)
    if not isinstance(status, dict):
        return {"state": "unknown", "message": "no status.json: not a run folder, or it never started"}
    if status.get("state") in ACTIVE and not _alive(status):
        log = _tail(run_dir / "train.log")
        status = {**status, "state": "failed", "message": log or "the training process ended unexpectedly"}
    return status


def _tail(path: Path) -> str:
    """The last meaningful line of a log: the one-line error the CLI printed."""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def checkpoints(run_dir) -> list[Path]:
    return sorted((Path(run_dir) / "checkpoints").glob("step_*.safetensors"))


def latest_checkpoint(run_dir) -> Path | None:
    ckpts = checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


@dataclass
class RunInfo:
    path: Path
    name: str
    kind: str
    owner: str
    preset: str | None
    config: dict
    status: dict
    last: dict
    best: float | None  # the best evaluation figure: kNN for SSL, test accuracy for classifiers, EV for SAEs
    duration_s: float


BEST = {"ssl": "knn_k200", "classifier": "test_acc", "sae": "explained_variance"}


def list_runs(root, kind: str | None = None, owner: str | None = None) -> list[RunInfo]:
    """Runs under `root` (of one kind, of one owner, if asked), newest first."""
    out = []
    for cfg in Path(root).glob("*/config.json"):
        d = cfg.parent
        info = read_info(d)
        if (kind and info["kind"] != kind) or (owner is not None and info["owner"] != owner):
            continue
        metrics = read_metrics(d)
        key = BEST.get(info["kind"], "")
        values = [m[key] for m in metrics if isinstance(m.get(key), int | float)]
        out.append(RunInfo(d, d.name, info["kind"], info["owner"], info["preset"], read_json(cfg, {}) or {}, read_status(d),
                           metrics[-1] if metrics else {}, max(values) if values else None,
                           metrics[-1].get("time", 0.0) if metrics else 0.0))
    return sorted(out, key=lambda r: r.status.get("started", 0), reverse=True)


# ---- writing (the trainer) -------------------------------------------------------------------------

class RunWriter:
    """What the training process writes into its run folder; a writer with `active=False` (ranks other
    than 0, or training without a folder) writes nothing."""

    def __init__(self, run_dir, active: bool = True):
        self.path = Path(run_dir) if run_dir else None
        self.active = active and self.path is not None
        if self.active:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.path / "checkpoints")  # left by a killed writer

    def status(self, state: str, message: str, **extra) -> None:
        if self.active:
            if state not in ACTIVE:  # a stop request lives as long as the run it asks to stop
                (self.path / STOP).unlink(missing_ok=True)
            old = read_json(self.path / "status.json", {}) or {}
            write_json(self.path / "status.json", {**old, "state": state, "message": message, "pid": os.getpid(),
                                                   "host": HOST, "updated": time.time(), **extra})

    def stop_requested(self) -> bool:
        return self.active and (self.path / STOP).exists()

    def metrics(self, row: dict) -> None:
        if self.active:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop metric lines past `step` (on resume from a checkpoint taken at `step`)."""
        if self.active:
            rows = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
            atomic_write(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def checkpoint(self, step: int, tensors: dict, meta: dict, keep: int) -> Path | None:
        """Save the checkpoint of `step`, then delete all but the newest `keep`."""
        if not self.active:
            return None
        path = save_checkpoint(self.path / "checkpoints" / f"step_{step:07d}.safetensors", tensors, meta)
        for old in checkpoints(self.path)[: -max(1, keep)]:
            old.unlink(missing_ok=True)
        return path


# ---- launching, queueing and stopping -------------------------------------------------------------

def _start(run_dir: Path, args: list[str], max_concurrent: int) -> int | str:
    """Start `python -m ssl_core train --out run_dir args` by the server's engine; its pid or job id."""
    (run_dir / STOP).unlink(missing_ok=True)
    argv = ["train", "--out", str(run_dir), *args]
    if os.environ.get("SSL_LAB_ENGINE", "local") == "submitit":
        return _submit(run_dir, argv)
    return _spawn(run_dir, [*argv, "--queue", str(run_dir.parent / ".slots"), "--max-concurrent", str(max_concurrent)])


def _spawn(run_dir: Path, argv: list[str]) -> int:
    cmd = [sys.executable, "-m", "ssl_core", *argv]
    with open(run_dir / "train.log", "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=os.getcwd())
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    # Written with the pid at once, so a reader never sees a run without its process. The child
    # (seconds away from its first status, importing torch) then takes over the file.
    write_json(run_dir / "status.json", {"state": "queued", "message": "starting", "pid": proc.pid, "host": HOST,
                                         "started": time.time(), "updated": time.time()})
    return proc.pid


def _submit(run_dir: Path, argv: list[str]) -> str:
    """Submit the run as a submitit job: parameters from `SSL_LAB_SUBMITIT` (JSON: slurm_partition,
    gpus_per_node, tasks_per_node, timeout_min, ...), the cluster from `SSL_LAB_SUBMITIT_CLUSTER` (default:
    Slurm where it is installed, else local processes)."""
    import submitit  # only servers that use the engine need it

    try:
        params = json.loads(os.environ.get("SSL_LAB_SUBMITIT") or "{}")
    except json.JSONDecodeError as e:
        raise UserError(f"SSL_LAB_SUBMITIT is not JSON ({e}): give submitit parameters as a JSON object")
    executor = submitit.AutoExecutor(folder=run_dir / "jobs", cluster=os.environ.get("SSL_LAB_SUBMITIT_CLUSTER"))
    executor.update_parameters(**{"name": f"ssl-lab-{run_dir.name}", "timeout_min": 24 * 60, **params})
    job = executor.submit(_job, argv, str(run_dir / "train.log"))
    process = getattr(job, "_process", None)  # the local executor's controller: reap it as _spawn does
    if process is not None:
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    local = process is not None
    write_json(run_dir / "status.json", {"state": "queued", "message": f"submitted as job {job.job_id}",
                                         "engine": "submitit", "job_id": job.job_id,
                                         "pid": process.pid if local else None, "host": HOST if local else None,
                                         "started": time.time(), "updated": time.time()})
    return job.job_id


def _job(argv: list[str], log: str) -> int:
    """What a submitit job runs: the CLI, one process per task; several tasks train as one torchrun would."""
    import submitit

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    with open(log, "a") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        return cli.main(argv)


def create(run_dir, kind: str, config, owner: str = "", preset: str | None = None) -> Path:
    """A new run folder holding run.json and config.json (nothing is started)."""
    run_dir = Path(run_dir)
    if kind not in KINDS:
        raise UserError(f"unknown run kind {kind!r}: use {', '.join(KINDS)}")
    if (run_dir / "config.json").exists():
        raise UserError(f"{run_dir.name} already holds a run: choose a new name, or resume it")
    config.validate()
    get_method(config.method).check_args(config.method_args, config.backbone)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run.json", {"kind": kind, "owner": owner, "name": run_dir.name, "preset": preset,
                                      "created": time.time()})
    atomic_write(run_dir / "config.json", config.to_json())
    return run_dir


def launch(run_dir, config, owner: str = "", max_concurrent: int = 2, preset: str | None = None) -> int:
    """Start a run in its own process; it waits in a queue while `max_concurrent` others run."""
    run_dir = create(run_dir, get_method(config.method).kind, config, owner, preset)
    return _start(run_dir, ["--config", str(run_dir / "config.json")], max_concurrent)


def resume(run_dir, max_concurrent: int = 2) -> int:
    run_dir = Path(run_dir)
    if read_status(run_dir).get("state") in ACTIVE:
        raise UserError(f"{run_dir.name} is already running")
    if latest_checkpoint(run_dir) is None:
        raise UserError(f"{run_dir.name} has no checkpoint to resume from: start it again instead")
    return _start(run_dir, ["--config", str(run_dir / "config.json"), "--resume"], max_concurrent)


def stop(run_dir, wait: float = 0.0, kill: bool = False) -> None:
    """Ask a run to stop: the trainer saves a checkpoint, marks itself 'stopped' and exits. With `wait`,
    block up to that many seconds for it to end; with `kill`, end its process by force after that (on this
    machine; a job on a cluster's node ends by force with the engine's own cancel, `scancel`)."""
    run_dir = Path(run_dir)
    if read_status(run_dir).get("state") not in ACTIVE:
        return
    (run_dir / STOP).touch()
    deadline = time.monotonic() + wait
    while wait and read_status(run_dir).get("state") in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
    status = read_status(run_dir)
    if kill and status.get("state") in ACTIVE and status.get("host") == HOST and _pid_alive(status.get("pid")):
        os.kill(int(status["pid"]), signal.SIGKILL)
        (run_dir / STOP).unlink(missing_ok=True)


def delete(run_dir) -> None:
    """Remove a run folder (it must not be training: stop it first)."""
    run_dir = Path(run_dir)
    if read_status(run_dir).get("state") in ACTIVE:
        raise UserError(f"{run_dir.name} is still training: stop it first")
    if not (run_dir / "config.json").exists():
        raise UserError(f"{run_dir.name} is not a run folder")
    shutil.rmtree(run_dir)


def budget_seconds(config: dict, status: dict) -> float | None:
    """How long a run still needs, as far as can be told: its ETA while it trains, its minutes while it waits."""
    if status.get("state") == "running" and status.get("eta_s") is not None:
        return float(status["eta_s"])
    minutes = config.get("minutes")
    return float(minutes) * 60 if minutes else None


def queue_place(root, run_dir, max_concurrent: int) -> dict:
    """A waiting run's place in the server's queue (1 = next), and an estimate of its wait in seconds: the work
    of the runs training and waiting before it, shared by the `max_concurrent` slots (None when unknown)."""
    everyone = [r for r in list_runs(root) if r.status.get("state") in ACTIVE]
    everyone.sort(key=lambda r: r.status.get("started", 0))
    ahead = []
    for r in everyone:
        if Path(r.path).resolve() == Path(run_dir).resolve():
            break
        ahead.append(r)
    waiting_ahead = [r for r in ahead if r.status.get("state") == "queued"]
    work = [budget_seconds(r.config, r.status) for r in ahead]
    known = None if any(w is None for w in work) else sum(work) / max(1, max_concurrent)
    return {"place": len(waiting_ahead) + 1, "training": sum(r.status.get("state") == "running" for r in everyone),
            "wait_s": known}


class Slot:
    """Hold one of `n` slot files under `folder` for the life of this process (see the module doc)."""

    def __init__(self, folder, n: int):
        self.folder, self.n, self.file = Path(folder), max(1, n), None

    def try_acquire(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            f = open(self.folder / f"slot{i}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.file = f
                return True
            except BlockingIOError:
                f.close()
        return False
