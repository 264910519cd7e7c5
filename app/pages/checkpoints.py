"""Checkpoints: open a model file from a run, an upload, a path, or a DINO / timm import."""

from pathlib import Path

import streamlit as st

from app import models, state, uploads
from app.ui import attempt, user_errors
from ssl_core.models.checkpoint import import_checkpoint

st.title("Checkpoints")
st.caption("A checkpoint is one file holding a trained network and how it was trained. Pick one here "
           "and make it the current model; the analysis pages then look inside it.")

SOURCES = ["A training run", "Upload a file", "A path on this server", "Import a DINO or timm ViT"]
source = st.radio("Where is the checkpoint?", SOURCES, horizontal=True)
st.caption("Runs are the ones trained on the Train page. Uploads and paths accept SSL Lab `.safetensors` "
           "files and DINO or timm ViT weights (`.pth`, `.safetensors`).")


path = None
if source == SOURCES[0]:
    found = models.run_checkpoints()
    if not found:
        st.info("No run has saved a checkpoint yet: train one on the Train page.")
    else:
        run = st.selectbox("Run", list(found))
        files = found[run]
        path = st.selectbox("Checkpoint", files, index=len(files) - 1, format_func=lambda p: p.name)
        st.caption("Runs save a checkpoint every few hundred steps and at the end; the last is the newest.")
elif source == SOURCES[1]:
    upload = st.file_uploader("Checkpoint file", type=["safetensors", "pth", "pt"])
    st.caption("The file is checked before use: pickles are opened with `weights_only=True`, never run.")
    if upload is not None:
        path = attempt(uploads.save, upload, "checkpoint")
elif source == SOURCES[2]:
    text = st.text_input("Path", placeholder="/path/to/model.safetensors")
    st.caption("A file on the machine that runs this app (not on your laptop, if they differ).")
    path = text.strip() or None
else:
    kind = st.radio("Kind", ["dino", "timm"], horizontal=True)
    st.caption("DINO: a backbone `.pth` or a full training checkpoint (the teacher is taken). timm: a ViT "
               "`.pth` or `.safetensors`. The architecture is inferred from the tensor shapes.")
    upload = st.file_uploader("File to import", type=["pth", "pt", "safetensors"], key="import_upload")
    src = st.text_input("...or its path on this server", key="import_path").strip()
    if st.button("Import", icon=":material/input:", disabled=not (upload or src)):
        with user_errors():
            src_path = uploads.save(upload, "checkpoint") if upload else Path(state.allowed(src))
            out = uploads.session_folder() / f"{src_path.stem.split('-', 1)[-1]}-{kind}.safetensors"
            out.parent.mkdir(parents=True, exist_ok=True)
            st.session_state["imported"] = str(import_checkpoint(src_path, kind, out))
    path = st.session_state.get("imported")
    if path:
        st.success(f"Imported as `{path}`.")

if path:
    with user_errors():
        info = models.describe(path)
        st.subheader(Path(info["file"]).name)
        arch = info["arch"]
        cols = st.columns(4)
        cols[0].metric("Architecture", str(arch.get("name", "?")))
        cols[1].metric("Parameters", f"{info['params'] / 1e6:.2f} M")
        cols[2].metric("Method", str(info.get("method") or "?"))
        cols[3].metric("Step", str(info.get("step") if info.get("step") is not None else "-"))
        st.caption(f"Data: `{info.get('data') or '?'}` · format: {info.get('format')} · "
                   f"{info.get('size_mb')} MB · file: `{info['file']}`")
        left, right = st.columns(2)
        with left:
            st.markdown("**Architecture**")
            st.dataframe([{"setting": k, "value": str(v)} for k, v in arch.items()], hide_index=True)
        with right:
            st.markdown("**Metrics at save time**")
            metrics = info.get("metrics") or {}
            if metrics:
                st.dataframe([{"metric": k, "value": v} for k, v in metrics.items()], hide_index=True)
            else:
                st.caption("None recorded (imported checkpoints carry no metrics).")
        if st.button("Use as current model", type="primary", icon=":material/check:"):
            models.load(info["file"])
            state.set_model(info["file"])
            st.rerun()
        if st.session_state.get(state.MODEL) == info["file"]:
            st.success("This is the current model.")
