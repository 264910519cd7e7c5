"""Cached access to checkpoints, shared by every page that needs the current model, and the list of
checkpoints a page can offer (every run's, and the ones shipped in assets/checkpoints).

Keyed by path and modification time, so an overwritten file is read again.
"""

from pathlib import Path

import streamlit as st

from app import state
from ssl_core import runs
from ssl_core.models.checkpoint import describe_checkpoint, load_model

SHIPPED = Path("assets/checkpoints")  # relative to the repository root, where `streamlit run` starts


def stamp(path) -> float:
    """The file's modification time (0 when it is missing): part of every cache key."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=32, show_spinner="Reading the checkpoint...")
def _describe(path: str, stamp: float) -> dict:
    return describe_checkpoint(path)


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")  # a class shares a few models
def _load(path: str, stamp: float):
    return load_model(path)


def describe(path) -> dict:
    """describe_checkpoint(path), cached. Raises UserError for a bad file, or one outside the shared folders."""
    path = state.allowed(str(path))
    return _describe(path, stamp(path))


def load(path):
    """(backbone in eval mode, metadata), cached for every session (a few models at a time)."""
    path = state.allowed(str(path))
    return _load(path, stamp(path))


def run_checkpoints() -> dict[str, list[Path]]:
    """{run name: its checkpoints, oldest first} for every run with one, then "shipped with SSL Lab"."""
    root = state.runs_root()
    found = {r.name: runs.checkpoints(r.path) for r in (runs.list_runs(root) if root.exists() else [])
             if r.kind in ("ssl", "classifier")}
    found["shipped with SSL Lab"] = sorted(SHIPPED.glob("*.safetensors"))
    return {k: v for k, v in found.items() if v}


def preset_checkpoint(preset: str) -> tuple[str, Path] | None:
    """(run name, newest checkpoint) of the newest run of `preset` that saved one: what a lesson opens on."""
    root = state.runs_root()
    for r in runs.list_runs(root) if root.exists() else []:
        if r.preset == preset and runs.latest_checkpoint(r.path):
            return r.name, runs.latest_checkpoint(r.path)
    return None
