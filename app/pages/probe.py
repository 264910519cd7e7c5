"""Probe: which feature a model leans on when two predict the label (shortcut bias), in a latent lab and in
pictures, and which data factors a checkpoint's features encode. The parts live in app/probe/."""

import streamlit as st

from app.probe import factors, images, latent

PARTS = {"latent": "Latent lab", "images": "Shortcuts in pictures", "factors": "Factor probes"}
LESSON = {"lab_ratio": 8.0, "lab_rho_s": 0.8, "lab_view": "Bias against depth"}  # lesson 7's setting

st.title("Probe")
st.caption("When two features both predict the label, which one does a model learn, and why? And which factors "
           "of the data do a checkpoint's features encode?")

if st.query_params.get("preset") == "shortcuts" and not st.session_state.get("probe_lesson"):
    st.session_state.update(probe_lesson=True, probe_part="latent", **LESSON)
part = st.radio("Part", list(PARTS), format_func=PARTS.get, horizontal=True, key="probe_part")
st.query_params["part"] = part
if st.session_state.get("probe_lesson"):
    st.info("Lesson 7, Shortcuts. The shortcut here is eight times more available than the core but less predictive "
            "(0.8 against 0.9). Compare a linear model with MLPs of one to three hidden layers, then switch Training "
            "to short. Question for the class: why would a network rely on a feature that is right less often?")

{"latent": latent.show, "images": images.show, "factors": factors.show}[part]()
