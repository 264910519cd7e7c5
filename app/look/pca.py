"""PCA of patch features as colours (DINOv2 practice): object from background, then parts in RGB."""

import streamlit as st

from app import overlays
from app.look import compute
from app.ui import user_errors
from ssl_core.analysis.pca import patch_pca


def show(c) -> None:
    st.subheader("PCA of patch features")
    st.caption("The first principal component of the patch features usually separates object from background; "
               "a second PCA on the object's patches gives three colours: similar parts get similar colours.")
    photos = compute.photo_files()
    others = st.multiselect("Also include", [n for n in photos if n != c.name], key="look_pca_more")
    st.caption("Several images share one PCA, so matching parts get matching colours across images.")
    c1, c2, c3 = st.columns(3)
    flip = c1.toggle("Flip foreground", key="look_pca_flip")
    c1.caption("The first component's sign is arbitrary: flip it if the background got the colours.")
    remove_bg = c2.toggle("Black out background", value=True, key="look_pca_bg")
    c2.caption("Off: colour every patch with the three main components.")
    threshold = c3.slider("Foreground threshold", -2.0, 2.0, 0.0, 0.1, key="look_pca_t")
    c3.caption("On the first component, in standard deviations.")
    with user_errors():
        items = [(c.name, c.image, c.feats)]
        for n in others:
            img = compute.file_image(str(photos[n]))[0]
            items.append((n, img, compute.features(c.ckpt, c.stamp, compute.digest(img), c.size, c.layer, c.feature,
                                                   c.model, img, c.norm)))
        out = patch_pca([f.grid for _, _, f in items], flip=flip, threshold=threshold, background=remove_bg)
        st.image([overlays.upsample_grid(rgb, img.shape[0], img.shape[1]) for (_, img, _), rgb in
                  zip(items, out["rgb"])], caption=[str(n) for n, _, _ in items], width=220)
