"""Look: click a patch, see which patches the model finds alike and the mask that implies; attention,
PCA of patch features, attributions. The numbers come from ssl_core.analysis and ssl_core.eval."""

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import streamlit as st

from app import clickable_image as ci
from app import models, overlays, state
from app.ui import user_errors
from ssl_core.analysis import similarity as sim

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


# ---- cached work ----------------------------------------------------------------------------------
def digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


@st.cache_resource(max_entries=64, show_spinner="Extracting patch features...")
def features(ckpt_: str, stamp_: float, key: str, size: int, layer: int, feature: str, _model, _image):
    from ssl_core.devices import use_bf16

    dev = next(_model.parameters()).device
    return sim.extract_patch_features(_model, _image, norm, size, layer, feature, use_bf16("auto", dev))


@st.cache_resource(max_entries=2, show_spinner="Building a randomly initialised twin...")
def random_twin(arch_json: str):
    from ssl_core.eval.segmentation import random_init_like

    return random_init_like(json.loads(arch_json))


@st.cache_resource(max_entries=16, show_spinner=False)
def colour_feats(key: str, size: int, _image):
    from ssl_core.eval.segmentation import colour_features

    return colour_features(_image, size)


@st.cache_resource(max_entries=16, show_spinner="Computing attention...")
def attention(ckpt_: str, stamp_: float, key: str, size: int, _model, _image):
    from ssl_core.analysis.attention import image_attention

    return image_attention(_model, _image, norm, size)


@st.cache_data(max_entries=16, show_spinner=False)
def read_file_image(path: str):
    from ssl_core.data import load_image

    img, note = load_image(path)
    return np.asarray(img), note


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset...")
def dataset(spec: str, limit: int):
    from ssl_core.data import load_data

    return load_data(spec, "train", 224, limit)


def photo_files() -> dict[str, Path]:
    from ssl_core.data.builtin import PHOTOS, photo_dir

    try:
        root = photo_dir()
    except Exception:  # noqa: BLE001 -- scikit-image missing: no built-in photos
        return {}
    return {Path(f).stem: root / f for f in PHOTOS if (root / f).exists()}


# ---- the image ------------------------------------------------------------------------------------
SOURCES = ["Built-in photos", "Dataset sample", "Upload", "Current image"]
source = st.radio("Image", SOURCES, horizontal=True, key="look_source")
st.caption("Photographs ship with SSL Lab; a dataset sample may come with a ground-truth mask (then the mask "
           "is scored); uploads take any common format; the current image is the one picked on Data.")
image, image_name, gt, note = None, "", None, None
with user_errors():
    if source == SOURCES[0]:
        photos = photo_files()
        if not photos:
            st.warning("No built-in photos found (they ship with scikit-image): upload an image instead.")
            st.stop()
        pick = st.selectbox("Photo", list(photos), index=list(photos).index("chelsea") if "chelsea" in photos else 0)
        image, note = read_file_image(str(photos[pick]))
        image_name = pick
    elif source == SOURCES[1]:
        cols = st.columns([3, 1])
        spec = cols[0].text_input("Dataset", "shapes", help="a built-in name or a folder on this server")
        cols[0].caption("A built-in (shapes has masks) or a folder; a `masks/` folder beside `images/` gives "
                        "ground truth, so the mask gets a Jaccard score.")
        data = dataset(spec.strip(), 64)
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
        from ssl_core.data import load_image

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
key = digest(image)
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
    feats = features(ckpt, stamp, key, size, layer, feature, model, image)
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
            from ssl_core.eval.segmentation import jaccard

            scores = {"this model": jaccard(seg.mask, gt)}
            with user_errors():
                twin = random_twin(json.dumps(arch, sort_keys=True))
                rf = features(f"random-init:{ckpt}", stamp, key, size, layer, feature, twin, image)
                cf = colour_feats(key, size, image)
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


def gallery_images(kind: str) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    if kind == "Other built-in photos":
        return [(n, read_file_image(str(p))[0], None) for n, p in photo_files().items() if n != image_name][:8]
    folder = st.text_input("Folder or dataset", "shapes", key="look_gallery_spec")
    st.caption("A built-in dataset name or a folder on this server (its first 8 images).")
    if not folder.strip():
        return []
    d = dataset(folder.strip(), 64)
    out = []
    for i in range(min(8, len(d))):
        m = d.masks[i].numpy() > 0 if d.masks is not None else None
        out.append((d.names[i], np.ascontiguousarray(d.images[i].permute(1, 2, 0).numpy()), m))
    return out


if view == "Co-segmentation":
    st.subheader("Co-segmentation")
    st.caption("The features of the patches you clicked become prompts: every image below is segmented by "
               "similarity to them, as if you had clicked the same thing there.")
    kind = st.radio("Gallery", ["Other built-in photos", "A dataset or folder"], horizontal=True, key="look_gallery")
    if not pos:
        st.info("Click a positive point on the image above first.")
    else:
        with user_errors():
            pv, nv = sim.prompt_vectors(feats, pos), sim.prompt_vectors(feats, neg) if neg else None
            shown, captions = [], []
            for name, img, m in gallery_images(kind):
                f = features(ckpt, stamp, digest(img), size, layer, feature, model, img)
                s = sim.segment_with_prompts(f, pv, nv, threshold)
                shown.append(overlays.tint(img, s.mask))
                text = f"{Path(name).name}: {100 * s.mask.mean():.0f}%"
                if m is not None and m.shape == s.mask.shape:
                    from ssl_core.eval.segmentation import jaccard

                    text += f", Jaccard {jaccard(s.mask, m):.2f}"
                captions.append(text)
            if shown:
                st.image(shown, caption=captions, width=200)

elif view == "Attention":
    st.subheader("Attention of the last block")
    if not is_vit:
        st.info("Attention maps need a ViT; this model is a ResNet, which has no attention.")
    else:
        st.caption("Each head of the last block: how much the CLS token (the image's summary) attends to every "
                   "patch. DINO-trained heads often pick out objects without ever seeing a label.")
        mass = st.slider("Attention mass kept", 0.1, 1.0, 0.6, 0.05, key="look_mass")
        st.caption("DINO's masks: the smallest set of patches holding this fraction of a head's attention "
                   "(the DINO paper shows 0.6).")
        with user_errors():
            from ssl_core.analysis.attention import mass_threshold

            att = attention(ckpt, stamp, key, size, model, image)
            frame = att["frame"]
            masks = mass_threshold(att["heads"], mass)
            heads = [overlays.blend(image, overlays.colorize(frame.to_image(h), cmap), 0.7) for h in att["heads"]]
            st.image(heads, caption=[f"head {i}" for i in range(len(heads))], width=180)
            st.image([overlays.tint(image, frame.to_image(m.astype(np.float32)) > 0.5) for m in masks],
                     caption=[f"head {i}: {int(m.sum())} patches hold {mass:.0%}" for i, m in enumerate(masks)],
                     width=180)
            st.image(overlays.blend(image, overlays.colorize(frame.to_image(att["rollout"]), cmap), 0.7),
                     caption="Attention rollout over all blocks", width=300)
            st.caption("Rollout follows attention through every block (heads averaged, plus the residual "
                       "path), so it shows where information flows to the CLS token overall.")

elif view == "PCA":
    st.subheader("PCA of patch features")
    st.caption("The first principal component of the patch features usually separates object from background; "
               "a second PCA on the object's patches gives three colours: similar parts get similar colours.")
    others = st.multiselect("Also include", [n for n in photo_files() if n != image_name], key="look_pca_more")
    st.caption("Several images share one PCA, so matching parts get matching colours across images.")
    c1, c2, c3 = st.columns(3)
    flip = c1.toggle("Flip foreground", key="look_pca_flip")
    c1.caption("The first component's sign is arbitrary: flip it if the background got the colours.")
    remove_bg = c2.toggle("Black out background", value=True, key="look_pca_bg")
    c2.caption("Off: colour every patch with the three main components.")
    pca_t = c3.slider("Foreground threshold", -2.0, 2.0, 0.0, 0.1, key="look_pca_t")
    c3.caption("On the first component, in standard deviations.")
    with user_errors():
        from ssl_core.analysis.pca import patch_pca

        items = [(image_name, image, feats)]
        for n in others:
            img = read_file_image(str(photo_files()[n]))[0]
            items.append((n, img, features(ckpt, stamp, digest(img), size, layer, feature, model, img)))
        out = patch_pca([f.grid for _, _, f in items], flip=flip, threshold=pca_t, background=remove_bg)
        st.image([overlays.upsample_grid(rgb, img.shape[0], img.shape[1]) for (_, img, _), rgb in
                  zip(items, out["rgb"])], caption=[str(n) for n, _, _ in items], width=220)

elif view == "Attributions":
    st.subheader("Attributions (captum)")
    st.caption("Which pixels make the masked region similar to your clicked patch? Attributions differentiate "
               "that similarity with respect to the input image.")
    from ssl_core.analysis.attribution import METHODS

    method = st.radio("Method", list(METHODS), horizontal=True, format_func=lambda m: m.replace("_", " "),
                      key="look_attr_method")
    st.caption(METHODS[method] + ".")
    cam_layer, steps = None, 16
    if method == "gradcam" and is_vit:
        cam_layer = st.slider("Grad-CAM block", 0, layer % depth, layer % depth, key="look_cam_layer") \
            if layer % depth > 0 else 0
        st.caption("The block whose patch tokens, reshaped to the grid, Grad-CAM weighs by their gradients.")
    if method == "integrated_gradients":
        steps = st.slider("Path steps", 4, 64, 16, 4, key="look_ig_steps")
        st.caption("More steps approximate the path integral better and take longer.")
    if not pos:
        st.info("Click a positive point on the image above first.")
    elif st.button("Compute attribution", icon=":material/insights:"):
        with user_errors(), st.spinner("Differentiating..."):
            from ssl_core.analysis.attribution import attribute

            t = time.perf_counter()
            a = attribute(model, image, pos, method, norm, seg.mask if seg is not None and seg.mask.any() else None,
                          size, layer, feature, cam_layer, steps)
            st.session_state["look_attr"] = (signature, method, a, time.perf_counter() - t)
    saved = st.session_state.get("look_attr")
    if saved and saved[0] == signature:
        _, m, a, secs = saved
        mag = np.abs(a) if m != "gradcam" else a
        st.image(overlays.blend(image, overlays.colorize(mag, cmap), 0.7), width=400,
                 caption=f"{m.replace('_', ' ')} ({secs:.1f} s): bright pixels raise the similarity most")
