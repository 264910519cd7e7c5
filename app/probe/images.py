"""Shortcuts in pictures: train a model where colour, size or background predicts the label, then show it
scenes where that shortcut lies, beside the same model trained without the shortcut."""

import streamlit as st

from app import images as pictures
from app import models
from app.pickers import checkpoint_picker
from app.ui import user_errors
from ssl_core.data import load_data
from ssl_core.probe.images import MODELS, SHORTCUTS, image_study

MODEL_NAMES = {"cnn": "a small CNN (supervised)", "vit": "a small ViT (supervised)",
               "linear-probe": "a linear probe on a checkpoint's frozen features"}


@st.cache_data(max_entries=32, show_spinner=False)
def cached_study(shortcut: str, rate: float, model: str, checkpoint: str | None, stamp: float) -> dict:
    return image_study(shortcut, rate, model, checkpoint)


def show() -> None:
    st.subheader("Shortcuts in pictures")
    st.caption("Scenes of one object, a circle or a triangle: the label is the shape. We tie a second factor to the "
               "label at a chosen rate (colour, size: the object's pixel footprint, or background), train a model, and "
               "show it conflict scenes where that factor points to the other class. Does it decide by shape?")
    c1, c2, c3 = st.columns(3)
    shortcut = c1.radio("Shortcut", SHORTCUTS, horizontal=True, key="img_shortcut")
    c1.caption("The factor tied to the label: red / pink, small / large, or a plain / striped background.")
    rate = c2.slider("Agreement rate", 0.5, 1.0, 0.9, 0.05, key="img_rate")
    c2.caption("How often the shortcut agrees with the label in training (the shape always does).")
    model = c3.radio("Model", MODELS, key="img_model", format_func=MODEL_NAMES.get)
    c3.caption("Each model is trained twice: with the shortcut, and where it is random (the shape-only baseline).")
    ckpt = checkpoint_picker("img", st) if model == "linear-probe" else None
    if model == "linear-probe" and not ckpt:
        st.info("Choose a checkpoint whose features the linear probe reads.")
        return
    if st.button("Train and test", type="primary", icon=":material/play_arrow:", key="img_run"):
        st.session_state["img_asked"] = (shortcut, rate, model, ckpt)
    asked = st.session_state.get("img_asked")
    if not asked:
        st.caption("Training takes about a minute on a laptop CPU (two models), then it is kept for everyone.")
        return
    with user_errors(), st.spinner("Training the two models..."):
        r = cached_study(*asked, models.stamp(asked[3]) if asked[3] else 0.0)
        t, s = r["trained"], r["shape_only"]
        a, b, c = st.columns(3)
        a.metric("Follows the shape", f"{t['follows_shape']:.1%}")
        b.metric("Follows the shortcut", f"{t['follows_shortcut']:.1%}")
        c.metric("Shape-only model follows the shape", f"{s['follows_shape']:.1%}")
        st.caption(f"On {r['n_conflict']} held-out conflict scenes, where the {r['shortcut']} points to the other "
                   f"class. The shape-only model is the same {r['model']} trained where the {r['shortcut']} is random: "
                   "the rate a classifier that decides by shape gets.")
        data = load_data(r["conflict_spec"], "test", 64)
        g = r["gallery"]
        names = r["class_names"]
        shown = [pictures.enlarge(pictures.to_hwc(data.images[i]), 96) for i in range(len(g["labels"]))]
        captions = [f"{names[y]} · {v}: says {names[p]} ({'shape' if p == y else 'shortcut'}), shape-only says "
                    f"{names[q]}" for y, v, p, q in zip(g["labels"], g["shortcut_values"], t["decisions"],
                                                        s["decisions"])]
        st.image(shown, caption=captions, width=150)
