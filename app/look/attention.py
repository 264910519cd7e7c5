"""Attention maps: each head's attention from the CLS token, DINO's mass masks, and attention rollout."""

import numpy as np
import streamlit as st

from app import overlays
from app.look import compute
from app.ui import user_errors
from ssl_core.analysis.attention import mass_threshold


def show(c) -> None:
    if not c.is_vit:
        st.subheader("Attention")
        st.info("Attention maps need a ViT; this model is a CNN, which has no attention.")
        return
    block = st.slider("Block", 0, c.depth - 1, c.depth - 1, key="look_attn_block") if c.depth > 1 else 0
    st.subheader(f"Attention of block {block}" + (" (the last)" if block == c.depth - 1 else ""))
    st.caption("Each head: how much the CLS token (the image's summary) attends to every patch. DINO-trained "
               "heads of the last block often pick out objects without ever seeing a label; earlier blocks "
               "attend more locally.")
    mass = st.slider("Attention mass kept", 0.1, 1.0, 0.6, 0.05, key="look_mass")
    st.caption("DINO's masks: the smallest set of patches holding this fraction of a head's attention "
               "(the DINO paper shows 0.6).")
    with user_errors():
        att = compute.attention(c.ckpt, c.stamp, c.key, c.size, block, c.model, c.image, c.norm)
        frame = att["frame"]
        masks = mass_threshold(att["heads"], mass)
        hi = float(att["heads"].max())  # one colour scale for every head, so heads compare
        heads = [overlays.blend(c.image, overlays.colorize(frame.to_image(h), c.cmap, 0.0, hi), 0.7)
                 for h in att["heads"]]
        st.image(heads, caption=[f"head {i}" for i in range(len(heads))], width=240)
        st.image(overlays.colour_bar(c.cmap, 0.0, hi), caption="attention weight (same scale for every head)",
                 width=240)
        st.image([overlays.tint(c.image, frame.to_image(m.astype(np.float32)) > 0.5) for m in masks],
                 caption=[f"head {i}: {int(m.sum())} patches hold {mass:.0%}" for i, m in enumerate(masks)], width=240)
        st.image(overlays.blend(c.image, overlays.colorize(frame.to_image(att["rollout"]), c.cmap), 0.7),
                 caption="Attention rollout over all blocks", width=320)
        st.caption("Rollout follows attention through every block (heads averaged, plus the residual "
                   "path), so it shows where information flows to the CLS token overall.")
