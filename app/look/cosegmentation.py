"""Co-segmentation: the clicked patches' features become prompts that segment other images."""

from pathlib import Path

import numpy as np
import streamlit as st

from app import overlays
from app.look import compute
from app.ui import user_errors
from ssl_core.analysis import similarity as sim
from ssl_core.eval.segmentation import jaccard


def gallery_images(c, kind: str) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    if kind == "Other built-in photos":
        return [(n, compute.file_image(str(p))[0], None) for n, p in compute.photo_files().items() if n != c.name][:8]
    folder = st.text_input("Folder or dataset", "shapes", key="look_gallery_spec")
    st.caption("A built-in dataset name or a folder on this server (its first 8 images).")
    if not folder.strip():
        return []
    d = compute.dataset(folder.strip(), 64)
    return [(d.names[i], np.ascontiguousarray(d.images[i].permute(1, 2, 0).numpy()),
             d.masks[i].numpy() > 0 if d.masks is not None else None) for i in range(min(8, len(d)))]


def show(c) -> None:
    st.subheader("Co-segmentation")
    st.caption("The features of the patches you clicked become prompts: every image below is segmented by "
               "similarity to them, as if you had clicked the same thing there.")
    kind = st.radio("Gallery", ["Other built-in photos", "A dataset or folder"], horizontal=True, key="look_gallery")
    if not c.pos:
        st.info("Click a positive point on the image above first.")
        return
    with user_errors():
        pv, nv = sim.prompt_vectors(c.feats, c.pos), sim.prompt_vectors(c.feats, c.neg) if c.neg else None
        shown, captions = [], []
        for name, img, m in gallery_images(c, kind):
            f = compute.features(c.ckpt, c.stamp, compute.digest(img), c.size, c.layer, c.feature, c.model, img, c.norm)
            s = sim.segment_with_prompts(f, pv, nv, c.threshold)
            shown.append(overlays.tint(img, s.mask))
            text = f"{Path(name).name}: {100 * s.mask.mean():.0f}%"
            if m is not None and m.shape == s.mask.shape:
                text += f", Jaccard {jaccard(s.mask, m):.2f}"
            captions.append(text)
        if shown:
            st.image(shown, caption=captions, width=200)
