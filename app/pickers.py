"""Widgets that choose things the analysis pages need: a checkpoint (Map, Probe, Dictionary), a dictionary."""

import streamlit as st

from app import models, state
from app.dictionary import compute as dictionaries
from app.ui import attempt


def checkpoint_picker(slot: str, container=st, label: str = "Model", second: bool = False) -> str | None:
    """Widgets (keys prefixed `slot`) that choose one checkpoint: the current model, a training run's (or a
    shipped one), or a path on this server. Returns its path, or None until one is chosen."""
    current = st.session_state.get(state.MODEL)
    sources = (["The current model"] if current else []) + ["A training run", "A path on this server"]
    source = container.radio(label, sources, horizontal=True, key=f"{slot}_source",
                             index=min(1, len(sources) - 1) if second and current else 0)
    if source == "The current model":
        container.caption(f"`{state.model_label(current)}`, chosen on Checkpoints or Train.")
        return current
    if source == "A training run":
        found = models.run_checkpoints()
        if not found:
            container.info("No run has saved a checkpoint yet: train one on the Train page.")
            return None
        run = container.selectbox("Run", list(found), key=f"{slot}_run")
        files = found[run]
        default = max(0, len(files) - 1 - (1 if second and len(files) > 1 else 0))
        path = container.selectbox("Checkpoint", files, index=default, format_func=lambda p: p.name, key=f"{slot}_ckpt")
        container.caption("Runs save a checkpoint every few hundred steps and at the end; the shipped models are "
                          "listed as a run of their own.")
        return str(path)
    text = container.text_input("Checkpoint path", key=f"{slot}_path", placeholder="/path/to/model.safetensors")
    container.caption("An SSL Lab `.safetensors` file, or a DINO / timm ViT file, in a folder this server shares.")
    return attempt(state.allowed, text) if text.strip() else None


def dictionary_picker(key: str) -> tuple[str, str] | None:
    """A selectbox of every trained and shipped dictionary: (its name, its path), or None when there is none."""
    found = dictionaries.dictionaries()
    if not found:
        st.info("No dictionary yet: train one (Train).")
        return None
    name = st.selectbox("Dictionary", list(found), key=key)
    return name, str(found[name])
