"""Attributions (captum and Grad-CAM): which pixels make the masked region similar to the clicked patch."""

import time

import numpy as np
import streamlit as st

from app import overlays
from app.ui import user_errors
from ssl_core.analysis.attribution import METHODS, attribute


def show(c, signature: str) -> None:
    st.subheader("Attributions (captum)")
    st.caption("Which pixels make the masked region similar to your clicked patch? Attributions differentiate "
               "that similarity with respect to the input image.")
    method = st.radio("Method", list(METHODS), horizontal=True, format_func=lambda m: m.replace("_", " "),
                      key="look_attr_method")
    st.caption(METHODS[method] + ".")
    cam_layer, steps = None, 16
    if method == "gradcam" and c.is_vit:
        last = c.layer % c.depth
        cam_layer = st.slider("Grad-CAM block", 0, last, last, key="look_cam_layer") if last > 0 else 0
        st.caption("The block whose patch tokens, read as a grid, Grad-CAM weighs by their gradients.")
    if method == "integrated_gradients":
        steps = st.slider("Path steps", 4, 64, 16, 4, key="look_ig_steps")
        st.caption("More steps approximate the path integral better and take longer.")
    if not c.pos:
        st.info("Click a positive point on the image above first.")
    elif st.button("Compute attribution", icon=":material/insights:"):
        with user_errors(), st.spinner("Differentiating..."):
            t = time.perf_counter()
            region = c.seg.mask if c.seg is not None and c.seg.mask.any() else None
            a = attribute(c.model, c.image, c.pos, method, c.norm, region, c.size, c.layer, c.feature, cam_layer, steps)
            st.session_state["look_attr"] = (signature, method, a, time.perf_counter() - t)
    saved = st.session_state.get("look_attr")
    if saved and saved[0] == signature:
        _, m, a, secs = saved
        mag = np.abs(a) if m != "gradcam" else a
        st.image(overlays.blend(c.image, overlays.colorize(mag, c.cmap), 0.7), width=400,
                 caption=f"{m.replace('_', ' ')} ({secs:.1f} s): bright pixels raise the similarity most")
