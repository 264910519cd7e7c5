"""Look: click a patch, see which patches the model finds alike and the mask that implies; attention,
PCA of patch features, attributions. The numbers come from ssl_core.analysis and ssl_core.eval; the cached
work is app/look/compute.py, and each view below the click view has its own module in app/look/."""

import json
import time
from pathlib import Path

import numpy as np
import streamlit as st

from app import clickable_image as ci
from app import models, overlays, state
from app.look import Current, attention, attributions, compute, cosegmentation, pca
from app.ui import user_errors
from ssl_core.analysis import similarity as sim
from ssl_core.data import load_image
from ssl_core.eval.segmentation import jaccard

DEFAULT_CKPT = models.SHIPPED / "default.safetensors"
NAME = "look"

st.title("Look")
st.caption("Click a point on an image: the model compares that patch's features with every other patch. "
           "Patches it finds alike light up, and a threshold turns the map into a mask, with no training "
           "for segmentation at all (zero-shot).")

# ---- the model ------------------------------------------------------------------------------------
current = st.session_state.get(state.MODEL)  # the model chosen on Checkpoints or Train comes first
choices = ([current] if current else []) + \
    ([str(DEFAULT_CKPT)] if DEFAULT_CKPT.exists() and str(DEFAULT_CKPT) != current else [])
if not choices:
    st.info("No model yet: pick one on the Checkpoints page, or train one on the Train page.")
    st.stop()
ckpt = st.selectbox("Model", choices, format_func=lambda p: ("shipped default: " if p == str(DEFAULT_CKPT) else
                                                            "current model: ") + Path(p).name)
st.caption("The current model is the one chosen on the Checkpoints or Train page; the shipped default was "
           "trained with SSL Lab's own CLI on photographs (assets/checkpoints/default.md says how, and how "
           "well).")
loaded = None
with user_errors():
    loaded = models.load(ckpt)
if loaded is None:
    st.stop()
model, meta = loaded
arch = meta["arch"]
is_vit = arch.get("name") == "vit"
stamp = models.stamp(ckpt)
norm = meta.get("normalization")


# ---- the image ------------------------------------------------------------------------------------
SOURCES = ["Built-in photos", "Dataset sample", "Upload", "Current image"]
source = st.radio("Image", SOURCES, horizontal=True, key="look_source")
st.caption("Photographs ship with SSL Lab; a dataset sample may come with a ground-truth mask (then the mask "
           "is scored); uploads take any common format; the current image is the one picked on Data.")
image, image_name, gt, note = None, "", None, None
with user_errors():
    if source == SOURCES[0]:
        photos = compute.photo_files()
        if not photos:
            st.warning("No built-in photos found (they ship with scikit-image): upload an image instead.")
            st.stop()
        pick = st.selectbox("Photo", list(photos), index=list(photos).index("chelsea") if "chelsea" in photos else 0)
        image, note = compute.file_image(str(photos[pick]))
        image_name = pick
    elif source == SOURCES[1]:
        cols = st.columns([3, 1])
        spec = cols[0].text_input("Dataset", "shapes", help="a built-in name or a folder on this server")
        cols[0].caption("A built-in (shapes has masks) or a folder; a `masks/` folder beside `images/` gives "
                        "ground truth, so the mask gets a Jaccard score.")
        data = compute.dataset(spec.strip(), 64)
        idx = cols[1].number_input("Sample", 0, len(data) - 1, 0)
        cols[1].caption("Which image of the first 64.")
        image = np.ascontiguousarray(data.images[idx].permute(1, 2, 0).numpy())
        image_name = data.names[idx]
        if data.masks is not None:
            gt = data.masks[idx].numpy() > 0
    elif source == SOURCES[2]:
        up = st.file_uploader("Upload an image", key="look_upload")
        st.caption("JPEG, PNG, WebP, TIFF, BMP, GIF...; phone photos are turned upright; very large images "
                   "are downscaled.")
        if up is None:
            st.stop()
        img, note = load_image(up.getvalue())
        image, image_name = np.asarray(img), up.name
    else:
        cur = st.session_state.get(state.IMAGE)
        if not cur:
            st.info("No current image yet: pick one on the Data page, or choose another source.")
            st.stop()
        image, image_name = np.asarray(cur["pixels"]), cur["caption"]
if image is None:
    st.stop()
if note:
    st.caption(f"Note: the image was {note}.")

# ---- controls ------------------------------------------------------------------------------------
key = compute.digest(image)
signature = f"{ckpt}|{stamp}|{key}"
if st.session_state.get("look_signature") != signature:
    st.session_state["look_signature"] = signature
    ci.set_clicks(NAME, [])
    st.session_state.pop("look_attr", None)

left, right = st.columns([1, 2], gap="large")
with left:
    st.radio("A click adds a", ["positive", "negative"], horizontal=True, key="look_mode")
    st.caption("Positive clicks mark the object. Negative clicks mark what is not: then a pixel is in the mask "
               "where it is closer to a positive click than to any negative one.")
    b1, b2 = st.columns(2)
    if b1.button("Undo", icon=":material/undo:", disabled=not ci.clicks(NAME), use_container_width=True):
        ci.set_clicks(NAME, ci.clicks(NAME)[:-1])
    if b2.button("Clear", icon=":material/delete:", disabled=not ci.clicks(NAME), use_container_width=True):
        ci.set_clicks(NAME, [])
    st.caption("Undo removes the last click; Clear starts over.")
    rule = st.radio("Threshold", ["Otsu", f"Fixed {sim.DEFAULT_THRESHOLD}", "Slider"], horizontal=True,
                    key="look_rule")
    slider_t = st.slider("Similarity threshold", -1.0, 1.0, sim.DEFAULT_THRESHOLD, 0.01, key="look_t",
                         disabled=rule != "Slider")
    st.caption("The mask keeps pixels whose cosine similarity to a clicked patch is above the threshold. Otsu "
               "picks the value that best splits this map's histogram in two.")
    with st.expander("Features", expanded=False):
        depth = int(arch.get("depth", 1))
        layer = (st.slider("Layer", 0, depth - 1, depth - 1, key="look_layer") if depth > 1 else 0) if is_vit else -1
        st.caption("Which transformer block's output to compare. Late blocks hold semantics; early ones, "
                   "colour and texture.")
        feature = st.radio("Feature", ["tokens", "keys"], horizontal=True, key="look_feature",
                           disabled=not is_vit) if is_vit else "tokens"
        st.caption("Output tokens, or the attention keys of that block (dino-vit-features found keys "
                   "segment best).")
        native = int(arch.get("img_size", 224))
        sizes = sorted({native, 128, 224, 320, 448})
        size = st.select_slider("Input size (px)", sizes, value=native, key="look_size")
        st.caption(f"The image is scaled to about this many pixels on a side (the model was trained at {native}); "
                   "more pixels give more, smaller patches.")
    alpha = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="look_alpha")
    st.caption("How strongly the similarity map covers the photo.")
    cmap = st.selectbox("Colour map", overlays.COLORMAPS, key="look_cmap")
    st.caption("Bright = similar to the clicked patch (for RdBu, red).")

threshold = {"Otsu": "otsu", "Slider": slider_t}.get(rule, sim.DEFAULT_THRESHOLD)
feats = None
with user_errors():
    feats = compute.features(ckpt, stamp, key, size, layer, feature, model, image, norm)
if feats is None:
    st.stop()

clicks = ci.clicks(NAME)
pos = [(c["x"], c["y"]) for c in clicks if c["positive"]]
neg = [(c["x"], c["y"]) for c in clicks if not c["positive"]]
seg = None
t0 = time.perf_counter()
if pos:
    with user_errors():
        seg = sim.segment(feats, pos, neg, threshold)
compute_ms = (time.perf_counter() - t0) * 1000

with right:
    picture = overlays.overlay(image, seg.positive if seg else None, seg.mask if seg else None, alpha, cmap, clicks)
    ci.clickable_image(NAME, picture, feats.frame, "look_mode", width=min(640, max(320, image.shape[1])))
    rows, cols = feats.frame.grid
    st.caption(f"`{image_name}`: {image.shape[1]}x{image.shape[0]} px, seen as {rows}x{cols} patches of "
               f"{feats.frame.patch} px at {feats.frame.rw}x{feats.frame.rh}. Click a patch; the yellow line is "
               "the mask's edge, green dots are positive clicks, red ones negative.")
    if neg and not pos:
        st.warning("Only negative clicks so far: add a positive click on the object.")
    elif not pos:
        st.info("Click on the object in the picture to see the patches the model finds alike.")

if seg is not None:
    rule_text = "nearest prototype (positive vs negative clicks)" if seg.threshold is None else \
        f"threshold {seg.threshold:.3f}" + (" (Otsu)" if threshold == "otsu" else "")
    with right:
        m1, m2 = st.columns([1, 1])
        m1.image(overlays.mask_picture(seg.mask), caption="Mask", width=260)
        m2.markdown(f"**Mask: {100 * seg.mask.mean():.1f}% of the image**, {rule_text}; "
                    f"{len(pos)} positive, {len(neg)} negative click(s).")
        m2.caption(f"Server time for this click: {compute_ms:.0f} ms (features are cached per image and model).")
        if gt is not None and gt.shape == seg.mask.shape:
            scores = {"this model": jaccard(seg.mask, gt)}
            with user_errors():
                twin = compute.random_twin(json.dumps(arch, sort_keys=True))
                rf = compute.features(f"random-init:{ckpt}", stamp, key, size, layer, feature, twin, image, norm)
                cf = compute.colour_feats(key, size, image)
                for label, f in (("colour + position", cf), ("random init", rf)):
                    if f is not None:
                        scores[label] = jaccard(sim.segment(f, pos, neg, threshold).mask, gt)
                scores["all foreground"] = jaccard(np.ones_like(gt), gt)
            cols_ = m2.columns(len(scores))
            for c, (label, v) in zip(cols_, scores.items()):
                c.metric(f"Jaccard, {label}", f"{v:.3f}")
            m2.caption("Jaccard (intersection over union) with the ground-truth mask, beside the same clicks on "
                       "plain colour-and-position features and on an untrained network of the same shape.")
        d1, d2, d3 = m2.columns(3)
        stem = Path(str(image_name)).stem or "image"
        mask_now, picture_now, score_now = seg.mask, picture, seg.positive
        d1.download_button("Mask PNG", lambda: overlays.png_bytes((mask_now * 255).astype(np.uint8)),
                           file_name=f"{stem}-mask.png", mime="image/png", on_click="ignore", key="dl_mask")
        d2.download_button("Overlay PNG", lambda: overlays.png_bytes(picture_now), file_name=f"{stem}-overlay.png",
                           mime="image/png", on_click="ignore", key="dl_overlay")
        d3.download_button("Similarity .npy", lambda: overlays.npy_bytes(score_now),
                           file_name=f"{stem}-similarity.npy", mime="application/octet-stream", on_click="ignore",
                           key="dl_npy")
        m2.caption("The mask at the image's own size (white = object), the picture as shown, and the raw "
                   "similarity map (float32, height x width) for your own analysis.")

# ---- more views ----------------------------------------------------------------------------------
st.divider()
view = st.radio("More", ["Co-segmentation", "Attention", "PCA", "Attributions"], horizontal=True,
                key="look_view", index=None)
st.caption("Co-segmentation applies your clicks to other images; Attention shows where the CLS token "
           "looks; PCA colours patches by their main feature directions; Attributions show which pixels "
           "drive the similarity.")

current = Current(ckpt, stamp, model, meta, image, str(image_name), key, size, layer, feature, threshold, cmap, feats,
                  pos, neg, seg)
if view == "Co-segmentation":
    cosegmentation.show(current)
elif view == "Attention":
    attention.show(current)
elif view == "PCA":
    pca.show(current)
elif view == "Attributions":
    attributions.show(current, signature)
