"""What the benchmarks share: the repository root, and the real CLI run as a user would run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(args: list[str], env: dict | None = None) -> dict:
    """`python -m ssl_core ARGS --json` in a subprocess (with `env` added to the environment), printed first so
    each figure can be reproduced; its JSON answer, or one line and exit when it failed."""
    cmd = [sys.executable, "-m", "ssl_core", *map(str, args), "--json"]
    print("$", *(f"{k}={v}" for k, v in (env or {}).items()), " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    if proc.returncode:
        sys.exit(f"failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)
