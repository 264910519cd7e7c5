"""Train a sparse autoencoder on a checkpoint's features, as a run of kind `sae` in its own process, with
live curves (explained variance on held-out tokens, L0, dead fraction), stop and resume."""

from datetime import datetime

import streamlit as st

from app import charts, state
from app.pickers import checkpoint_picker
from app.ui import rerun_when_ended, user_errors
from ssl_core import runs
from ssl_core.sae.model import VARIANTS
from ssl_core.train.config import TrainConfig

CURVES = [("explained_variance", "Explained variance (held-out tokens)", "1 - error / variance of the features; PCA "
           "with as many dimensions as the SAE keeps active is drawn beside it."),
          ("l0", "L0: active latents per token", "TopK keeps exactly k; ReLU + L1 finds its own."),
          ("dead", "Dead fraction", "Latents that have not fired for a while; the auxiliary loss revives them."),
          ("loss", "Loss", "Reconstruction error (plus the L1 or auxiliary term).")]


def config(ckpt: str, data: str, layer: int, tokens: str, variant: str, expansion: int, k: int, l1: float,
           minutes: float) -> TrainConfig:
    return TrainConfig(method="sae", data=data, checkpoint=ckpt, layer=layer, tokens=tokens, minutes=minutes,
                       batch_size=4096, lr=1e-3, weight_decay=0.0, eval_every=25, log_every=5, ckpt_every=100,
                       method_args={"variant": variant, "expansion": expansion, "k": k, "l1": l1})


def show() -> None:
    st.subheader("Train a dictionary")
    st.caption("A sparse autoencoder rewrites each feature vector as a sum of a few directions from a large dictionary "
               "(8 times more directions than dimensions). Each direction that fires rarely and on similar images is a "
               "candidate 'concept' of the model.")
    c1, c2, c3 = st.columns(3)
    with c1:
        ckpt = checkpoint_picker("dict_src")
        data = st.text_input("Data", "shapes", key="dict_data")
        st.caption("Whose features: the scenes (with factors to compare against), photos, or a folder.")
    with c2:
        tokens = st.radio("Tokens", ["patch", "cls"], horizontal=True, key="dict_tokens",
                          format_func={"patch": "Patch tokens", "cls": "CLS tokens"}.get)
        st.caption("Every patch of every image, or one summary token per image.")
        layer = int(st.number_input("Layer", -1, 47, -1, key="dict_layer"))
        st.caption("The block (ViT) or stage (CNN) to read; -1 is the last.")
        minutes = st.number_input("Minutes", 0.5, 60.0, 2.0, 0.5, key="dict_minutes")
        st.caption("Two minutes reach most of the explained variance on a laptop.")
    with c3:
        variant = st.radio("Variant", VARIANTS, horizontal=True, key="dict_variant")
        st.caption("TopK keeps the k strongest latents of each token; BatchTopK k on average; ReLU uses an L1 penalty.")
        expansion = int(st.select_slider("Expansion", [2, 4, 8, 16], value=8, key="dict_expansion"))
        k = int(st.number_input("k", 1, 256, 32, key="dict_k", disabled=variant == "relu"))
        l1 = float(st.number_input("L1 weight", 0.0, 1.0, 1e-3, format="%g", key="dict_l1", disabled=variant != "relu"))
    name = st.text_input("Run name", f"sae-{datetime.now():%m%d-%H%M%S}", key="dict_name")
    if st.button("Start", type="primary", icon=":material/play_arrow:", key="dict_start", disabled=not ckpt):
        with user_errors():
            cfg = config(ckpt, state.allowed_data(data.strip()), layer, tokens, variant, expansion, k, l1, minutes)
            runs.launch(state.runs_root() / name.strip(), cfg, owner=state.owner())
            st.session_state["dict_run"] = name.strip()
    found = runs.list_runs(state.runs_root(), kind="sae") if state.runs_root().exists() else []
    if not found:
        st.info("No dictionary trained yet: choose a checkpoint and press Start.")
        return
    names = [r.name for r in found]
    if st.session_state.get("dict_run") not in names:
        st.session_state["dict_run"] = names[0]
    current = st.selectbox("Run", names, key="dict_run")
    watch(state.runs_root() / current)


def watch(run_dir) -> None:
    @st.fragment(run_every=2.0 if runs.read_status(run_dir).get("state") in runs.ACTIVE else None)
    def live():
        status = runs.read_status(run_dir)
        st.progress(min(1.0, float(status.get("progress") or 0.0)),
                    text=f"Step {status.get('step') or 0} · {status.get('state', 'unknown')}")
        if status.get("state") in ("failed", "diverged"):
            st.error(f"{status['state']}: {(status.get('message') or 'no message').splitlines()[0]}")
        metrics = runs.read_metrics(run_dir)
        cols = st.columns(len(CURVES))
        for col, (key, title, note) in zip(cols, CURVES):
            with col:
                fig = charts.curve(metrics, key, title)
                if key == "explained_variance":
                    charts.add_reference(fig, metrics, "pca_explained_variance", "PCA, same active dimensions")
                st.plotly_chart(fig, key=f"dict_curve_{key}")
                st.caption(note)
        rerun_when_ended("dict_live_active", status.get("state") in runs.ACTIVE)
    live()
    status = runs.read_status(run_dir)
    c1, c2 = st.columns(2)
    if c1.button("Stop", icon=":material/stop:", key="dict_stop", disabled=status.get("state") not in runs.ACTIVE):
        with user_errors():
            state.check_may_control(run_dir)
            runs.stop(run_dir)
    if c2.button("Resume", icon=":material/replay:", key="dict_resume", disabled=status.get("state") in runs.ACTIVE):
        with user_errors():
            state.check_may_control(run_dir)
            runs.resume(run_dir, max_concurrent=state.max_train())
            st.rerun()
