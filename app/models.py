"""Cached access to checkpoints, shared by every page that needs the current model.

Keyed by path and modification time, so an overwritten file is read again.
"""

from pathlib import Path

import streamlit as st


def _stamp(path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=32, show_spinner="Reading the checkpoint...")
def _describe(path: str, stamp: float) -> dict:
    from ssl_core.models.checkpoint import describe_checkpoint

    return describe_checkpoint(path)


@st.cache_resource(max_entries=2, show_spinner="Loading the model...")
def _load(path: str, stamp: float):
    from ssl_core.models.checkpoint import load_model

    return load_model(path)


def describe(path) -> dict:
    """describe_checkpoint(path), cached. Raises UserError for a bad file."""
    return _describe(str(path), _stamp(path))


def load(path):
    """(backbone in eval mode, metadata), cached: at most two models are held in memory."""
    return _load(str(path), _stamp(path))
