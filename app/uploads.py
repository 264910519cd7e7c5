"""Uploaded files: kept per browser session, under unique names, within size caps and a quota, cleaned up.

Student B's `model.safetensors` can never replace student A's: each session writes only into its own folder
(`SSL_LAB_CACHE/uploads/<session>/`), each file gets a random prefix, and folders untouched for a day are
swept away whenever anyone uploads.
"""

import re
import shutil
import time
import uuid
from pathlib import Path

import streamlit as st

from app import state
from ssl_core.errors import UserError
from ssl_core.files import atomic_write

MB = 1 << 20
CAPS = {"checkpoint": 600 * MB, "image": 50 * MB}
QUOTA = 2048 * MB  # per session
MAX_AGE = 24 * 3600


def session_folder() -> Path:
    return state.uploads_root() / state.session_id()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[-80:] or "upload"


def sweep(now: float | None = None) -> int:
    """Delete upload folders no session has touched for MAX_AGE; returns how many."""
    root, now, removed = state.uploads_root(), now or time.time(), 0
    for d in root.glob("*") if root.exists() else []:
        if d.is_dir() and now - d.stat().st_mtime > MAX_AGE:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


def save(upload, kind: str) -> Path:
    """An uploaded file (a Streamlit UploadedFile) on disk in this session's folder; one-line refusals when it is
    larger than its kind's cap or the session's quota would overflow. The same upload, seen again on a rerun,
    is the same file."""
    saved = st.session_state.setdefault("uploads_saved", {})
    if upload.file_id in saved and Path(saved[upload.file_id]).exists():
        return Path(saved[upload.file_id])
    data = upload.getvalue()
    if len(data) > CAPS[kind]:
        raise UserError(f"{upload.name} is {len(data) / MB:.0f} MB; a {kind} upload may be at most "
                        f"{CAPS[kind] // MB} MB")
    folder = session_folder()
    used = sum(p.stat().st_size for p in folder.glob("*")) if folder.exists() else 0
    if used + len(data) > QUOTA:
        raise UserError(f"this session's uploads would pass {QUOTA // MB} MB: delete some or reload the page for a new "
                        "session")
    sweep()
    path = atomic_write(folder / f"{uuid.uuid4().hex[:10]}-{_safe(upload.name)}", data)
    folder.touch()
    saved[upload.file_id] = str(path)
    return path
