"""Co-segmentation: the clicked patches' features become prompts that segment other images."""

import numpy as np
import streamlit as st

from app import overlays, state
from app.look import compute, photos
from app.ui import user_errors
from ssl_core.analysis import similarity as sim
from ssl_core.eval.segmentation import jaccard

UPLOADS, BUILTIN, FOLDER = "The other uploaded photos", "Other built-in photos", "A dataset or folder"
FOLDER_IMAGES = 8


def gallery(c, kind: str) -> list[photos.Photo]:
    if kind == UPLOADS:
        return list(c.others)
    if kind == BUILTIN:
        return [photos.file_photo(n, p) for n, p in compute.photo_files().items() if n != c.name][:8]
    folder = st.text_input("Folder or dataset", "shapes", key="look_gallery_spec")
    st.caption(f"A built-in dataset name or a folder on this server (its first {FOLDER_IMAGES} images; a folder's "
               "images are centre-cropped to 224 px squares, as training sees them).")
    if not folder.strip():
        return []
    d = compute.dataset(state.allowed_data(folder.strip()), 64)
    if d.skipped:
        st.caption(f"{d.skipped} unreadable or oversized files of that folder were skipped.")
    out = []
    for i in range(min(FOLDER_IMAGES, len(d))):
        img = np.ascontiguousarray(d.images[i].permute(1, 2, 0).numpy())
        out.append(photos.Photo(d.names[i], img, (img.shape[1], img.shape[0]), None,
                                d.masks[i].numpy() > 0 if d.masks is not None else None))
    return out


def show(c) -> None:
    st.subheader("Co-segmentation")
    st.caption("The features of the patches you clicked become prompts: every image below is segmented by "
               "similarity to them, as if you had clicked the same thing there.")
    kinds = ([UPLOADS] if c.others else []) + [BUILTIN, FOLDER]
    kind = st.radio("Gallery", kinds, horizontal=True, key="look_gallery")
    if not c.pos:
        st.info("Click a positive point on the image above first.")
        return
    with user_errors():
        pv, nv = sim.prompt_vectors(c.feats, c.pos), sim.prompt_vectors(c.feats, c.neg) if c.neg else None
        shown, captions, exports = [], [], []
        if c.seg is not None and c.photo is not None:
            exports.append((f"{c.photo.stem}-mask.png", c.seg.mask, c.photo.original))
        for p in gallery(c, kind):
            f = compute.features(c.ckpt, c.stamp, compute.digest(p.image), c.size, c.layer, c.feature, c.model,
                                 p.image, c.norm)
            s = sim.segment_with_prompts(f, pv, nv, c.threshold)
            shown.append(overlays.tint(p.image, s.mask))
            text = f"{p.name.rsplit('/', 1)[-1]}: {100 * s.mask.mean():.0f}%"
            if p.mask is not None and p.mask.shape == s.mask.shape:
                text += f", Jaccard {jaccard(s.mask, p.mask):.2f}"
            captions.append(text)
            exports.append((f"{p.stem}-mask.png", s.mask, p.original))
        if not shown:
            return
        st.image(shown, caption=captions, width=200)
        names = _unique_names([e[0] for e in exports])
        items = [(n, m, size) for n, (_, m, size) in zip(names, exports, strict=True)]
        st.download_button("Masks ZIP", lambda: overlays.masks_zip(items), file_name="cosegmentation-masks.zip",
                           mime="application/zip", on_click="ignore", key="dl_coseg_zip")
        st.caption(f"{len(items)} mask PNGs (255 = object): this image's and each one's above, each at the size of "
                   "its own file" + (" (a dataset's images at the 224 px they were decoded to)" if kind == FOLDER
                                     else "") + ".")


def _unique_names(names: list[str]) -> list[str]:
    seen, out = {}, []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else n.replace(".png", f"-{seen[n]}.png"))
    return out
