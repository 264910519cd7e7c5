"""A run is a folder: `config.json`, `metrics.jsonl` (one JSON object a line), `status.json` and
`checkpoints/`. The CLI and the app read and write runs only through these functions.

Training runs in its own process (`python -m ssl_core train`), started here detached from the caller,
so a UI stays responsive and a crash cannot take it down. A machine-wide cap on concurrent runs is
kept with slot files locked by the training processes themselves: the OS frees a slot when its
process dies, so no daemon or bookkeeping is needed.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ssl_core.errors import UserError

ACTIVE = ("queued", "running")


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


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


def append_metrics(run_dir, row: dict) -> None:
    with open(Path(run_dir) / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(run_dir, step: int) -> None:
    """Drop metric lines past `step` (on resume from a checkpoint taken at `step`)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    tmp = path.with_name(".metrics.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def _pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    # A zombie (finished child not yet reaped) counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def read_status(run_dir) -> dict:
    """The run's status; a run whose process vanished without saying so is reported as failed."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json", None)
    if status is None:
        return {"state": "unknown", "message": "no status.json: not a run folder, or it never started"}
    if status.get("state") in ACTIVE and not _pid_alive(status.get("pid")):
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
    config: dict
    status: dict
    last: dict
    best_knn: float | None
    duration_s: float


def list_runs(root) -> list[RunInfo]:
    """Runs under `root`, newest first."""
    root = Path(root)
    runs = []
    for d in root.glob("*/config.json"):
        d = d.parent
        metrics = read_metrics(d)
        knn = [m["knn_k200"] for m in metrics if "knn_k200" in m]
        runs.append(RunInfo(d, d.name, read_json(d / "config.json", {}), read_status(d),
                            metrics[-1] if metrics else {}, max(knn) if knn else None,
                            metrics[-1].get("time", 0.0) if metrics else 0.0))
    return sorted(runs, key=lambda r: r.status.get("started", 0), reverse=True)


# ---- launching, queueing and stopping -------------------------------------------------------------

def _spawn(run_dir: Path, args: list[str], max_concurrent: int) -> int:
    slots = run_dir.parent / ".slots"
    cmd = [sys.executable, "-m", "ssl_core", "train", "--out", str(run_dir), *args,
           "--queue", str(slots), "--max-concurrent", str(max_concurrent)]
    with open(run_dir / "train.log", "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=os.getcwd())
    # Written with the pid at once, so a reader never sees a run without its process. The child
    # (seconds away from its first status, importing torch) then takes over the file.
    write_json_atomic(run_dir / "status.json", {"state": "queued", "message": "starting", "pid": proc.pid,
                                                "started": time.time(), "updated": time.time()})
    return proc.pid


def launch(run_dir, config, max_concurrent: int = 2) -> int:
    """Start a training run in its own process; it waits in a queue while `max_concurrent` others run."""
    run_dir = Path(run_dir)
    if (run_dir / "config.json").exists():
        raise UserError(f"{run_dir} already holds a run: choose a new name, or resume it")
    config.validate()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(config.to_json())
    return _spawn(run_dir, ["--config", str(run_dir / "config.json")], max_concurrent)


def resume(run_dir, max_concurrent: int = 2) -> int:
    run_dir = Path(run_dir)
    if read_status(run_dir).get("state") in ACTIVE:
        raise UserError(f"{run_dir.name} is already running")
    if latest_checkpoint(run_dir) is None:
        raise UserError(f"{run_dir.name} has no checkpoint to resume from: start it again instead")
    return _spawn(run_dir, ["--config", str(run_dir / "config.json"), "--resume"], max_concurrent)


def stop(run_dir, wait: float = 0.0, kill: bool = False) -> None:
    """Ask a run to stop: the trainer saves a checkpoint, marks itself 'stopped' and exits. With `wait`,
    block up to that many seconds for the process to end; with `kill`, end it by force after that."""
    status = read_status(run_dir)
    pid = status.get("pid")
    if status.get("state") not in ACTIVE or not _pid_alive(pid):
        return
    os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + wait
    while wait and _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if kill and _pid_alive(pid):
        os.kill(int(pid), signal.SIGKILL)


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
