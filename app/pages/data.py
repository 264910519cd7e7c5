"""Data: browse a dataset, and see the augmented views and masks a method trains on."""

import streamlit as st

from app import images, state
from app.ui import user_errors
from app.views import draw_views, patch_mask, with_strength
from ssl_core.data import builtin_names, load_data
from ssl_core.methods import METHODS, method_params

st.title("Data")
st.caption("Self-supervised methods learn from images alone. Here you see the images, and what the "
           "method turns them into before the network sees them.")

FOLDER = "a folder on this server"


@st.cache_resource(max_entries=4, show_spinner="Loading images...")
def load(spec: str, split: str, size: int, limit: int):
    return load_data(spec, split=split, size=size, limit=limit)


cols = st.columns([2, 1, 1])
builtins = builtin_names()
choice = cols[0].selectbox("Dataset", [*builtins, FOLDER],
                          format_func=lambda n: f"{n}: {builtins[n]}" if n in builtins else n)
cols[0].caption("Built-ins need no download. A folder works too: class sub-folders give labels.")
split = cols[1].radio("Split", ["all", "train", "test"], horizontal=True)
cols[1].caption("Every image, the training ones, or the held-out ones kNN accuracy is measured on. A folder "
                "without train/ and test/ sub-folders keeps a fifth of its files, chosen by name, as its test split.")
size = cols[2].selectbox("Resolution", [None, 32, 64, 96, 128],
                         format_func=lambda s: str(s) if s else "the dataset's own")
cols[2].caption("Images are decoded once at this size, as training does.")
spec = choice
if choice == FOLDER:
    spec = st.text_input("Folder path", placeholder="/path/to/images").strip()
    st.caption("A folder of images; `train/` and `test/` sub-folders give the splits, `masks/` pairs masks "
               "by file name.")
    if not spec:
        st.stop()

data = None
with user_errors():
    data = load(state.allowed_data(spec), split, size, 256)
if data is None:
    st.stop()
size = data.images.shape[-1]
labelled = bool((data.labels >= 0).any())
held = f" of the {data.available:,} in the split" if data.available > len(data) else ""
st.caption(f"{len(data)} images shown{held} from `{spec}` ({split}), {len(data.class_names)} classes"
           + (", with masks" if data.masks is not None else "")
           + (f"; {data.skipped} unreadable files skipped" if data.skipped else "") + ".")

# ---- browse --------------------------------------------------------------------------------------
st.header("Browse")
cols = st.columns(3)
count = cols[0].slider("Images", 8, 64, 24, step=8)
cols[0].caption("How many images the grid shows.")
start = cols[1].number_input("First image", 0, max(0, len(data) - 1), 0, step=count)
cols[1].caption("Page through the dataset.")
show_masks = cols[2].toggle("Show masks", value=data.masks is not None, disabled=data.masks is None)
cols[2].caption("Colour each object's pixels, where the dataset knows them (shapes, folders with masks/).")


def picture(i: int, masks: bool):
    img = images.to_hwc(data.images[i])
    return images.overlay(img, data.masks[i].numpy()) if masks and data.masks is not None else img


def caption(i: int) -> str:
    label = int(data.labels[i])
    return f"{i}: {data.class_names[label]}" if labelled and label >= 0 else str(i)


shown = range(start, min(len(data), start + count))
st.image([images.enlarge(picture(i, show_masks), 96) for i in shown], caption=[caption(i) for i in shown])

# ---- one image and its views ---------------------------------------------------------------------
st.header("What the model sees")
cols = st.columns([1, 1, 2])
index = cols[0].number_input("Image", 0, len(data) - 1, int(start), key="data_index")
cols[0].caption("Which image to augment.")
cols[0].image(images.enlarge(picture(index, False), 160), caption=caption(index))
if cols[0].button("Use as current image", icon=":material/check:"):
    state.set_image(picture(index, False), f"{spec} #{index}")
    st.rerun()
method = cols[1].selectbox("Method", list(METHODS))
cols[1].caption(f"{METHODS[method].description}")
strength = cols[1].slider("Colour strength", 0.0, 2.0, 1.0, 0.1)
cols[1].caption("Scales brightness, contrast, saturation and hue jitter: the model learns to ignore "
                "whatever changes between views.")
default_crop = min([c.scale[0] for c in METHODS[method].view_configs(size).values() if hasattr(c, "scale")] or [0.2])
min_crop = cols[1].slider("Smallest crop", 0.05, 1.0, float(default_crop), 0.05, key=f"crop:{method}")
cols[1].caption("Smallest fraction of the image a crop keeps; small crops teach part-to-whole agreement.")
if cols[1].button("Draw new views", icon=":material/casino:"):
    st.session_state["view_seed"] = st.session_state.get("view_seed", 0) + 1
seed = st.session_state.get("view_seed", 0)

with cols[2]:
    params = {n: d for n, d, _ in method_params(method)}
    configs = {name: with_strength(cfg, strength, min_crop)
               for name, cfg in METHODS[method].view_configs(size).items()}
    with user_errors():
        drawn = draw_views(data.images[index], configs, params.get("n_local", 2), seed)
        main = {n: v[0] for n, v in drawn.items() if not n.startswith("local")}
        st.markdown("**" + " · ".join(main) + f"** ({size} px)")
        st.image([images.enlarge(v, 160) for v in main.values()], caption=list(main))
        for name, views in drawn.items():
            if name.startswith("local"):
                st.markdown(f"**{name}** ({views[0].shape[0]} px, {len(views)} crops)")
                st.image([images.enlarge(v, 160 * v.shape[0] // size) for v in views])
    masking = METHODS[method].masking
    if masking:
        default_ratio = float(params.get("mask_ratio", METHODS[method].mask_ratio))
        ratio = st.slider("Mask ratio", 0.0, 0.95, default_ratio, 0.05)
        st.caption("Fraction of patches hidden from the encoder; it must predict what is under the grey.")
        with user_errors():
            grid = patch_mask(masking, size, ratio, seed)
            st.markdown(f"**{masking} patch mask**")
            st.image(images.enlarge(images.hide_patches(picture(index, False), grid), 160))
