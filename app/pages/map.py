"""Map: a checkpoint's embeddings of a whole dataset as a UMAP, PCA or t-SNE map, with hover pictures,
selection, nearest neighbours, a side-by-side comparison of two checkpoints, and exports.

The computing is in app/map/compute.py (cached, over the engine's feature store), the chart in
app/map/chart.py, what a click or a selection shows in app/map/gallery.py.
"""

from pathlib import Path

import streamlit as st

from app import models, state, warmup
from app.chart_events import COLS, PER_SHEET, SIZE, chart_events, clicked, forget
from app.map import chart, compute, gallery
from app.pickers import checkpoint_picker
from app.ui import attempt, user_errors
from ssl_core.analysis import embedding as emb
from ssl_core.analysis import thumbnails
from ssl_core.data import builtin_names
from ssl_core.train.presets import PRESETS

warmup.start()

st.title("Map")
st.caption("Each image of a dataset becomes one point: the model's embedding of it, squeezed into 2-D. "
           "Images the model finds similar land close together, so a good self-supervised model groups "
           "classes it was never told about.")

FOLDER = "a folder on this server"
METHOD_NAMES = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
METHOD_HELP = {
    "umap": "UMAP keeps each point's nearest neighbours close (local structure); distances between far "
            "clusters mean little.",
    "pca": "PCA is a linear view along the two directions of largest spread: honest about global geometry, "
           "but it often blurs clusters together.",
    "tsne": "t-SNE, like UMAP, preserves neighbourhoods; slower, and cluster sizes and gaps are not meaningful.",
}

LESSON = "contrastive-digits"  # lesson 5 opens ?preset=contrastive-digits: its run's newest checkpoint on digits
builtins = {k: v for k, v in builtin_names().items() if k != "photos"}
LESSON_DATA = PRESETS[LESSON]["config"].data  # digits, each scaled and moved: what lesson 5's model trained on
builtins[LESSON_DATA] = "the digits, each at its own scale and place (lesson 5)"
SETTINGS = {  # what a reload or a shared link keeps (in the URL): key -> (default, what the widget can show)
    "map_compare": (False, (False, True)), "map_data": ("shapes", (*builtins, FOLDER)), "map_folder": ("", None),
    "map_split": ("all", ("all", "test", "train")), "map_limit": (2000, range(50, 50_001)),
    "map_pool": ("cls", ("cls", "mean")), "map_layer": (-1, range(-1, 48)), "map_method": ("umap", tuple(METHOD_NAMES)),
    "map_neighbors": (15, range(5, 51)), "map_perplexity": (30, range(5, 51)), "map_clusters": (10, range(2, 31)),
    "map_thumbs": (False, (False, True)), "map_drawn": (False, (False, True)),
}
if st.query_params.get("preset") == LESSON and not st.session_state.get("map_lesson"):
    st.session_state.update(map_lesson=True, map_data=LESSON_DATA, map_method="umap", map_drawn=True)
    found = models.preset_checkpoint(LESSON)
    if found:
        st.session_state.update(map_a_source="A training run", map_a_run=found[0])  # its newest checkpoint
    else:
        st.info(f"Lesson 5 maps a model trained by the `{LESSON}` preset: train it first (about 3 minutes), then "
                "come back to this link. Meanwhile the map shows the current model.")
        st.page_link("app/pages/train.py", label="Train the preset", icon=":material/model_training:",
                     query_params={"preset": LESSON})
state.restore(SETTINGS)

left, mid, right = st.columns(3)
with left:
    st.subheader("Model")
    ckpt_a = checkpoint_picker("map_a")
    compare = st.toggle("Compare with a second checkpoint", key="map_compare")
    st.caption("Two maps side by side on the same images, each with its kNN accuracy beside the baselines.")
    ckpt_b = checkpoint_picker("map_b", label="Second model", second=True) if compare else None

with mid:
    st.subheader("Data")
    choice = st.selectbox("Dataset", [*builtins, FOLDER], key="map_data",
                          format_func=lambda n: f"{n}: {builtins[n][:60]}" if n in builtins else n)
    st.caption("Built-ins need no download; a folder with class sub-folders gives labels to colour by.")
    spec = st.text_input("Folder path", key="map_folder", placeholder="/path/to/images").strip() \
        if choice == FOLDER else choice
    split = st.radio("Split", ["all", "test", "train"], horizontal=True, key="map_split")
    st.caption("All images, or only the held-out ones (what the model generalises to) or the training ones. "
               "A folder without train/ and test/ sub-folders is read whole under all.")
    limit = int(st.number_input("Images", 50, 50_000, step=500, key="map_limit"))
    st.caption("How many images to map at most (a class-balanced subset). 10,000 take seconds once the features "
               "are cached.")

with right:
    st.subheader("Embedding and projection")
    pool = st.radio("Embedding", ["cls", "mean"], horizontal=True, key="map_pool",
                    format_func={"cls": "CLS token", "mean": "Mean of patch tokens"}.get)
    st.caption("The CLS token is what most SSL losses train; the mean of the patch tokens describes the whole "
               "image more evenly. CNNs give their pooled map either way.")
    depth = None
    if ckpt_a:
        with user_errors():
            depth = models.describe(ckpt_a)["arch"].get("depth")
    if not depth or st.session_state["map_layer"] > depth - 1:
        st.session_state["map_layer"] = -1
    layer = int(st.number_input("Layer", -1, (depth - 1) if depth else -1, key="map_layer", disabled=not depth))
    st.caption("Which transformer block to read: -1 is the last (normalised) output; early blocks see colour "
               "and texture, late ones objects.")
    method = st.radio("Projection", list(METHOD_NAMES), horizontal=True, key="map_method", format_func=METHOD_NAMES.get)
    st.caption(METHOD_HELP[method])
    options = {}
    if method == "umap":
        options["n_neighbors"] = st.slider("UMAP neighbours", 5, 50, key="map_neighbors")
        st.caption("How many neighbours define 'local': few give many small clumps, many a smoother map.")
    elif method == "tsne":
        options["perplexity"] = float(st.slider("Perplexity", 5, 50, key="map_perplexity"))
        st.caption("About how many neighbours each point attends to.")

state.remember(SETTINGS)
if not ckpt_a or not spec:
    st.info("Choose a model and a dataset above to draw the map.")
    st.stop()
spec = attempt(state.allowed_data, spec)
if not spec:
    st.stop()

request = dict(a=ckpt_a, b=ckpt_b if compare else None, spec=spec, split=split, limit=limit, pool=pool,
               layer=layer, method=method, options=tuple(sorted(options.items())))
if st.button("Draw the map", type="primary", icon=":material/scatter_plot:"):
    st.session_state.update(map_request=request, map_drawn=True)
    forget("map_A"), forget("map_B")
elif st.session_state["map_drawn"] and "map_request" not in st.session_state:  # reloaded, or a lesson's link
    st.session_state["map_request"] = request
state.remember(["map_drawn"])
st.caption("Features come from the feature store (computed once per checkpoint and dataset, in bfloat16 where "
           "the CPU is fast at it, with a progress bar), then the projection runs; both are kept for reruns.")
drawn = st.session_state.get("map_request")
if not drawn:
    st.stop()
if drawn != request:
    st.caption(":material/info: The settings changed since the map was drawn: press **Draw the map** again.")
key = (drawn["spec"], drawn["split"], drawn["limit"], drawn["layer"], drawn["pool"])


progress_slot = st.empty()  # always there, so nothing around the charts comes and goes (they would lose clicks)


def embed(ckpt: str, twin: bool = False):
    """The features (stored, or extracted now with a progress bar in the fixed slot above the maps)."""
    what = f"Features of {drawn['spec']} through {'a random-init twin of ' if twin else ''}{state.model_label(ckpt)}"
    try:
        return compute.features(ckpt, *key, twin,
                                progress=lambda f: progress_slot.progress(min(1.0, f), text=f"{what}: {f:.0%}"))
    finally:
        progress_slot.empty()


maps = {}
with user_errors():
    for name, ckpt in (("A", drawn["a"]), ("B", drawn["b"])):
        if ckpt:
            feats, vectors = embed(ckpt)
            with st.spinner(f"{METHOD_NAMES[drawn['method']]} of {len(feats)} points..."):
                coords = compute.projection(ckpt, models.stamp(ckpt), key, drawn["method"], drawn["options"], vectors)
            maps[name] = {"ckpt": ckpt, "features": feats, "vectors": vectors, "coords": coords}
if not maps:
    st.stop()
first = maps["A"]["features"]
imgs = compute.images(drawn["spec"], drawn["split"], drawn["limit"], first.source["size"])
labels = first.labels.numpy()
held = f" (a class-balanced subset of the {imgs.available:,} in the split)" if imgs.available > len(first) else ""
st.caption(f"Mapped {len(first)} images{held} of `{drawn['spec']}` ({drawn['split']})"
           + (f"; {first.source['skipped']} unreadable files were skipped" if first.source.get("skipped") else "")
           + ".")

# ---- colour ------------------------------------------------------------------------------------
c1, c2, c3 = st.columns([2, 1, 1])
colours = chart.colour_options(first, first.labelled)
state.restore({"map_colour": (None, colours)})
colour = c1.selectbox("Colour by", colours, key="map_colour")
c1.caption("Label: the true class (never used in training). Factors: what the procedural scenes were drawn "
           "with. kNN correct: whether an image's 20 nearest neighbours vote for its class. Cluster: k-means "
           "on the embeddings, no labels at all.")
k_clusters = c2.slider("Clusters", 2, 30, key="map_clusters")
c2.caption("k for k-means; also exported in the CSV.")
show_thumbs = c3.toggle("Thumbnails on the map", key="map_thumbs")
c3.caption("Draw up to 150 small images spread over the map, to see what each region holds.")
state.remember(["map_colour"])

for m in maps.values():
    stamp = models.stamp(m["ckpt"])
    m["clusters"] = compute.clusters(m["ckpt"], stamp, key, k_clusters, m["vectors"])
    m["correct"] = compute.knn_correct(m["ckpt"], stamp, key, False, m["vectors"], labels) if first.labelled else None


def scores(m: dict) -> None:
    """kNN of the model beside raw pixels and the random-init network of the same architecture."""
    if not first.labelled:
        st.caption("Unlabelled data: no kNN accuracy.")
        return
    acc = float(m["correct"][labels >= 0].mean())
    pixels = compute.pixel_baseline(*key[:3], imgs.size, imgs.images, first.labels)
    with user_errors():
        _, twin_vectors = embed(m["ckpt"], twin=True)
        twin = compute.knn_correct(m["ckpt"], models.stamp(m["ckpt"]), key, True, twin_vectors, labels)
        random_acc = float(twin[labels >= 0].mean())
        a, b, c = st.columns(3)
        a.metric("kNN top-1 (k=20)", f"{acc:.3f}", delta=f"{acc - max(pixels, random_acc):+.3f} vs best baseline")
        b.metric("Raw pixels, same kNN", f"{pixels:.3f}")
        c.metric("Random init, same kNN", f"{random_acc:.3f}")
    st.caption("Leave-one-out: each image is classified by a weighted vote of its 20 nearest other images "
               "(cosine, T=0.1). Raw pixels and an untrained network of the same shape get the same vote: the "
               "bars a model must clear.")


# ---- the map(s) ---------------------------------------------------------------------------------
method_name = METHOD_NAMES[drawn["method"]]
selected, click = set(), None
images_token = f"{abs(hash((drawn['spec'], drawn['split'], drawn['limit'], imgs.size))):x}"


def sheet(k: int) -> bytes:
    return thumbnails.contact_sheet(imgs.images, k * PER_SHEET, PER_SHEET, SIZE, COLS)


for col, (name, m) in zip(st.columns(len(maps)), maps.items()):
    with col:
        title = f"{method_name} of {state.model_label(m['ckpt'])}" + (f" ({name})" if len(maps) > 1 else "")
        cats, cat_names = chart.categories(colour, first, m["correct"], m["clusters"])
        fig = chart.figure(m["coords"], cats, cat_names, first.names, title, imgs.images if show_thumbs else None)
        event = st.plotly_chart(fig, key=f"map_{name}", on_select="rerun", selection_mode=("points", "box", "lasso"),
                                config={"scrollZoom": False, "doubleClick": "reset", "displaylogo": False})
        chart_events(f"map_{name}", images_token, sheet)
        scores(m)
        points, region = chart.selected_points(event)
        if region:  # a box or lasso; a click is reported by chart_events, not by the selection
            selected.update(points)
            forget(f"map_{name}")
        elif clicked(f"map_{name}") is not None:
            click = (name, clicked(f"map_{name}"))
st.caption("Hover a point to see its picture. Drag to select a box (the lasso is in the chart's toolbar) and "
           "the gallery below fills; click a point to see its nearest neighbours. Zoom with the toolbar's buttons "
           "(the mouse wheel scrolls the page); double-click to reset the view.")

if click and not selected:
    name, i = click
    gallery.neighbours(first, maps[name]["vectors"], imgs.images, i)

rows = emb.coordinates_table(maps["A"]["coords"], first.names, labels if first.labelled else None, first.class_names,
                             maps["A"]["clusters"], maps["A"]["correct"])
if selected:
    chosen = sorted(selected)
    gallery.selection(first, imgs.images, chosen)
    st.download_button("Export the selection (CSV)", emb.to_csv(rows, chosen), file_name="selection.csv",
                       mime="text/csv", icon=":material/download:")

st.download_button("Export the coordinates (CSV)", emb.to_csv(rows), file_name=f"map-{drawn['method']}.csv",
                   mime="text/csv", icon=":material/download:")
st.caption("One row per image: file name, x, y, label, k-means cluster and kNN correctness. The same file "
           f"comes from `python -m ssl_core embed --checkpoint {Path(maps['A']['ckpt']).name} --data {drawn['spec']} "
           f"--split {drawn['split']} --method {drawn['method']} --out coords.csv`.")
