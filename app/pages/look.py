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
from app.look import (
    Current,
    attention,
    attributions,
    compute,
    cosegmentation,
    pca,
    photos,
)
from app.ui import user_errors
from ssl_core.analysis import similarity as sim
from ssl_core.data.images import MAX_PIXELS
from ssl_core.eval.segmentation import jaccard

DEFAULT_CKPT = models.SHIPPED / "default.safetensors"
NAME = "look"
CLICK_VIEWS = ("Co-segmentation", "Attributions")  # the views below the workbench that follow the clicks

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
           "is scored); uploads take any common format, several at once, with masks to score against; the "
           "current image is the one picked on Data.")
photo, others = None, []  # the image to click on, and the other uploads (for co-segmentation)
with user_errors():
    if source == SOURCES[0]:
        builtin = compute.photo_files()
        if not builtin:
            st.warning("No built-in photos found (they ship with scikit-image): upload an image instead.")
            st.stop()
        pick = st.selectbox("Photo", list(builtin), index=list(builtin).index("chelsea") if "chelsea" in builtin else 0)
        photo = photos.file_photo(pick, builtin[pick])
    elif source == SOURCES[1]:
        cols = st.columns([3, 1])
        spec = cols[0].text_input("Dataset", "shapes", help="a built-in name or a folder on this server")
        cols[0].caption("A built-in (shapes has masks) or a folder; a `masks/` folder beside `images/` gives "
                        "ground truth, so the mask gets a Jaccard score.")
        data = compute.dataset(state.allowed_data(spec.strip()), 64)
        idx = cols[1].number_input("Sample", 0, len(data) - 1, 0)
        cols[1].caption(f"Which image of the first {len(data)}" + (f" ({data.skipped} unreadable or oversized "
                        "files skipped)" if data.skipped else "") + ".")
        pixels = np.ascontiguousarray(data.images[idx].permute(1, 2, 0).numpy())
        photo = photos.Photo(data.names[idx], pixels, (pixels.shape[1], pixels.shape[0]), None,
                             data.masks[idx].numpy() > 0 if data.masks is not None else None)
    elif source == SOURCES[2]:
        files = st.file_uploader("Upload images", accept_multiple_files=True, key="look_upload")
        st.caption(f"JPEG, PNG, WebP, TIFF, BMP, GIF..., several at once (the others can be co-segmented below); "
                   f"phone photos are turned upright; images over {photos.MAX_SIDE} px on a side are downscaled to "
                   f"it (files up to {photos.CAP_MB} MB, up to {MAX_PIXELS // 10**6} megapixels), and masks "
                   "export at each image's own size.")
        mask_files = st.file_uploader("Masks to score against (optional)", accept_multiple_files=True,
                                      key="look_upload_masks")
        st.caption("A ground-truth mask (non-zero = object) named after its photo (horse001.jpg -> horse001.png; "
                   "one photo and one mask pair whatever their names): the mask then gets a Jaccard score "
                   "beside the baselines.")
        uploaded, problems = photos.read_uploads(files, mask_files)
        for problem in problems:
            st.error(problem)
        if not uploaded:
            st.stop()
        names = [p.name for p in uploaded]
        pick = st.selectbox("Photo to click on", names, key="look_upload_pick") if len(names) > 1 else names[0]
        photo = uploaded[names.index(pick)]
        others = [p for p in uploaded if p is not photo]
    else:
        cur = st.session_state.get(state.IMAGE)
        if not cur:
            st.info("No current image yet: pick one on the Data page, or choose another source.")
            st.stop()
        pixels = np.asarray(cur["pixels"])
        photo = photos.Photo(cur["caption"], pixels, (pixels.shape[1], pixels.shape[0]))
if photo is None:
    st.stop()
image, image_name, gt = photo.image, photo.name, photo.mask
if photo.note:
    st.caption(f"Note: the image was {photo.note}.")

# ---- controls ------------------------------------------------------------------------------------
key = compute.digest(image)
signature = f"{ckpt}|{stamp}|{key}"
if st.session_state.get("look_signature") != signature:
    st.session_state["look_signature"] = signature
    ci.set_clicks(NAME, [])
    st.session_state.pop("look_attr", None)


@st.fragment
def clicked(feats, size: int, layer: int, feature: str, threshold, alpha: float, cmap: str):
    """The picture to click on, its mask and scores, and the exports. A click reruns only this part: the server
    skips every control, and every browser redraws only the picture and the figures below it."""
    t0 = time.perf_counter()
    clicks, pos, neg, seg = mask(feats, threshold)
    if clicks != st.session_state.get("look_more_clicks") and st.session_state.get("look_view") in CLICK_VIEWS:
        st.rerun()  # the view below the workbench works on the clicks too: draw the whole page again
    compute_ms = (time.perf_counter() - t0) * 1000
    picture = overlays.overlay(image, seg.positive if seg else None, seg.mask if seg else None, alpha, cmap, clicks)
    ci.clickable_image(NAME, picture, feats.frame, "look_mode", width=min(640, max(320, image.shape[1])),
                       preview=ci.Preview(feats, image, threshold, alpha, cmap))
    rows, cols = feats.frame.grid
    st.caption(f"`{image_name}`: {image.shape[1]}x{image.shape[0]} px, seen as {rows}x{cols} patches of "
               f"{feats.frame.patch} px at {feats.frame.rw}x{feats.frame.rh}. Click a patch; the yellow line is "
               "the mask's edge, green dots are positive clicks, red ones negative." +
               (" Your browser draws a click's mask at once from the patch features it holds; the server's own "
                "picture and figures follow." if ci.previews(feats) else ""))
    u1, u2 = st.columns(2)
    u1.button("Undo", icon=":material/undo:", disabled=not clicks, use_container_width=True,
              on_click=lambda: ci.set_clicks(NAME, ci.clicks(NAME)[:-1]))
    u2.button("Clear", icon=":material/delete:", disabled=not clicks, use_container_width=True,
              on_click=lambda: ci.set_clicks(NAME, []))
    st.caption("Undo removes the last click; Clear starts over.")
    if neg and not pos:
        st.warning("Only negative clicks so far: add a positive click on the object.")
    elif not pos:
        st.info("Click on the object in the picture to see the patches the model finds alike.")

    if seg is not None:
        rule_text = f"threshold {seg.threshold:.3f}" + (" (Otsu)" if threshold == "otsu" else "")
        if neg:
            rule_text += f", less {100 * seg.removed:.1f}% nearer a negative click"
        m1, m2 = st.columns([1, 1])
        m1.image(overlays.mask_picture(seg.mask), caption="Mask (white = object, in a grey frame)", width=260,
                 output_format="PNG")
        m2.markdown(f"**Mask: {100 * seg.mask.mean():.1f}% of the image**, {rule_text}; "
                    f"{len(pos)} positive, {len(neg)} negative click(s).")
        m2.caption(f"Server time for this click: {compute_ms:.0f} ms (features are cached per image and model).")
        if gt is not None and gt.shape == seg.mask.shape:
            scores(seg, pos, neg, threshold, size, layer, feature)
        d1, d2, d3 = st.columns(3)
        stem = Path(str(image_name)).stem or "image"
        mask_now, picture_now, score_now, original = seg.mask, picture, seg.positive, photo.original
        d1.download_button("Mask PNG", lambda: overlays.mask_png(mask_now, original),
                           file_name=f"{stem}-mask.png", mime="image/png", on_click="ignore", key="dl_mask")
        d2.download_button("Overlay PNG", lambda: overlays.png_bytes(picture_now), file_name=f"{stem}-overlay.png",
                           mime="image/png", on_click="ignore", key="dl_overlay")
        d3.download_button("Similarity .npy", lambda: overlays.npy_bytes(score_now),
                           file_name=f"{stem}-similarity.npy", mime="application/octet-stream", on_click="ignore",
                           key="dl_npy")
        h, w = seg.positive.shape
        own = "the image's own size" if source in (SOURCES[0], SOURCES[2]) else "the size it was decoded to"
        st.caption(f"The mask at {original[0]}x{original[1]} px, {own} (white = object); the "
                   f"picture as shown ({w}x{h}); and the raw similarity map to the positive clicks as float32, "
                   f"height x width, at the {w}x{h} px the page works at (its detail is the {rows}x{cols} patch "
                   "grid), for your own analysis.")


def scores(seg, pos, neg, threshold, size: int, layer: int, feature: str) -> None:
    """The mask's Jaccard with the ground truth, beside the same clicks on the baselines' features."""
    table = {"this model": jaccard(seg.mask, gt)}
    with user_errors():
        twin = compute.random_twin(json.dumps(arch, sort_keys=True))
        rf = compute.features(f"random-init:{ckpt}", stamp, key, size, layer, feature, twin, image, norm)
        cf = compute.colour_feats(key, size, image)
        for label, f in (("colour + position", cf), ("random init", rf)):
            if f is not None:
                table[label] = jaccard(sim.segment(f, pos, neg, threshold).mask, gt)
        table["all foreground"] = jaccard(np.ones_like(gt), gt)
    header, values = " | ".join(table), " | ".join(f"{v:.3f}" for v in table.values())
    st.markdown(f"**Jaccard with the ground-truth mask**\n\n| {header} |\n|{'---|' * len(table)}\n| {values} |")
    st.caption("Jaccard (intersection over union) with the ground-truth mask, beside the same clicks on "
               "plain colour-and-position features, on an untrained network of the same shape, and a mask "
               "of the whole image.")


def mask(feats, threshold):
    """(clicks, positive points, negative points, Segmentation or None) of the clicks so far."""
    clicks = ci.clicks(NAME)
    pos = [(c["x"], c["y"]) for c in clicks if c["positive"]]
    neg = [(c["x"], c["y"]) for c in clicks if not c["positive"]]
    seg = None
    if pos:
        with user_errors():
            seg = sim.segment(feats, pos, neg, threshold)
    return clicks, pos, neg, seg


@st.fragment
def workbench():
    """Everything below the choice of model and image. Any control here reruns only this part (a click, only
    `clicked`): the server skips the page above it, and every browser redraws only what changed."""
    native = int(arch.get("img_size", 224))
    suggested = sim.suggested_size(meta, image.shape[1], image.shape[0])
    sizes = sorted({native, 128, 224, 320, 448, suggested})
    chosen = st.session_state.get("look_size")
    if chosen in (None, st.session_state.get("look_size_suggested")) or chosen not in sizes:
        st.session_state["look_size"] = suggested  # follow the suggestion until a size is chosen by hand
    st.session_state["look_size_suggested"] = suggested

    left, right = st.columns([1, 2], gap="large")
    with left:
        size = st.select_slider("Input size (px)", sizes, key="look_size")
        why = ("the size this model's card recommends" if meta.get("recommended_size") else
               "for a photo larger than the training size" if suggested != native else "the training size")
        st.caption(f"The image is scaled to about this many pixels on a side; the model was trained at {native}. "
                   f"Suggested: {suggested} px, {why}. More pixels give more, smaller patches and finer masks, "
                   "and take longer.")
        st.radio("A click adds a", ["positive", "negative"], horizontal=True, key="look_mode")
        st.caption("Positive clicks mark the object. Negative clicks mark what is not: they remove from the mask "
                   "the pixels nearer to them than to every positive click (they never add any).")
        rule = st.radio("Threshold", ["Otsu", f"Fixed {sim.DEFAULT_THRESHOLD}", "Slider"], horizontal=True,
                        key="look_rule")
        slider_t = st.slider("Similarity threshold", -1.0, 1.0, sim.DEFAULT_THRESHOLD, 0.01, key="look_t",
                             disabled=rule != "Slider")
        st.caption("The mask keeps pixels whose cosine similarity to a positive click is above the threshold "
                   "(negative clicks then only remove pixels). Otsu picks the value that best splits this map's "
                   "histogram in two.")
        with st.expander("Features", expanded=False):
            depth = int(arch.get("depth", 1))
            layer = (st.slider("Layer", 0, depth - 1, depth - 1, key="look_layer") if depth > 1 else 0) if is_vit else -1
            st.caption("Which transformer block's output to compare. Late blocks hold semantics; early ones, "
                       "colour and texture.")
            feature = st.radio("Feature", ["tokens", "keys"], horizontal=True, key="look_feature",
                               disabled=not is_vit) if is_vit else "tokens"
            st.caption("Output tokens, or the attention keys of that block (dino-vit-features found keys "
                       "segment best).")
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

    st.session_state["look_more_clicks"] = list(ci.clicks(NAME))  # what the views below are drawn for
    with right:
        clicked(feats, size, layer, feature, threshold, alpha, cmap)

    # ---- more views ----------------------------------------------------------------------------------
    st.divider()
    view = st.radio("More", ["Co-segmentation", "Attention", "PCA", "Attributions"], horizontal=True,
                    key="look_view", index=None)
    st.caption("Co-segmentation applies your clicks to other images; Attention shows where the CLS token "
               "looks; PCA colours patches by their main feature directions; Attributions show which pixels "
               "drive the similarity.")

    if view is None:
        return
    _, pos, neg, seg = mask(feats, threshold) if view in CLICK_VIEWS else ([], [], [], None)
    current = Current(ckpt, stamp, model, meta, image, str(image_name), key, size, layer, feature, threshold, cmap, feats,
                      pos, neg, seg, photo, others)
    if view == "Co-segmentation":
        cosegmentation.show(current)
    elif view == "Attention":
        attention.show(current)
    elif view == "PCA":
        pca.show(current)
    elif view == "Attributions":
        attributions.show(current, signature)


workbench()
