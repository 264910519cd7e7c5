"""Map: a checkpoint's embeddings of a whole dataset as a UMAP, PCA or t-SNE map, with selection, nearest
neighbours, a side-by-side comparison of two checkpoints, and exports.

The page is a face over ssl_core.analysis.embedding (features via the on-disk cache, projections,
clusters, kNN correctness, CSV) and ssl_core.analysis.thumbnails.

Thumbnails: a map of 50,000 points cannot ship every image with the chart. Pictures are made on demand:
hovering a point shows its thumbnail (app/hover_thumbnails.py fetches the contact sheet of 100 images
that holds it, once), a click on a point encodes that image and its neighbours, a box or lasso
selection encodes the selected images for the gallery (capped), and the "thumbnails on the map" switch
draws at most 150 small thumbnails spread over the map as plotly layout images.
"""

from collections import OrderedDict
from pathlib import Path
from threading import Lock

import numpy as np
import streamlit as st

from app import models, state, warmup
from app.hover_thumbnails import COLS, PER_SHEET, SIZE, hover_thumbnails
from app.ui import user_errors

warmup.start()

st.title("Map")
st.caption("Each image of a dataset becomes one point: the model's embedding of it, squeezed into 2-D. "
           "Images the model finds similar land close together, so a good self-supervised model groups "
           "classes it was never told about.")

FOLDER = "a folder on this server"
GALLERY_MAX = 60
METHOD_HELP = {
    "umap": "UMAP keeps each point's nearest neighbours close (local structure); distances between far "
            "clusters mean little.",
    "pca": "PCA is a linear view along the two directions of largest spread: honest about global geometry, "
           "but it often blurs clusters together.",
    "tsne": "t-SNE, like UMAP, preserves neighbourhoods; slower, and cluster sizes and gaps are not meaningful.",
}


# ---- a small shared store, so reruns (and other sessions) reuse features and maps ----------------

@st.cache_resource
def _store():
    return OrderedDict(), Lock()


def remember(key, make, keep: int = 12):
    store, lock = _store()
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    value = make()
    with lock:
        store[key] = value
        while len(store) > keep:
            store.popitem(last=False)
    return value


def pick_checkpoint(slot: str, container, second: bool = False) -> str | None:
    """Widgets that choose one checkpoint; returns its path or None."""
    current = st.session_state.get(state.MODEL)
    sources = (["The current model"] if current else []) + ["A training run", "A path on this server"]
    source = container.radio("Model" if not second else "Second model", sources, horizontal=True,
                             key=f"{slot}_source", index=min(1, len(sources) - 1) if second and current else 0)
    if source == "The current model":
        container.caption(f"`{Path(current).name}`, chosen on Checkpoints or Train.")
        return current
    if source == "A training run":
        found = models.run_checkpoints()
        if not found:
            container.info("No run has saved a checkpoint yet: train one on the Train page.")
            return None
        run = container.selectbox("Run", list(found), key=f"{slot}_run")
        files = found[run]
        default = max(0, len(files) - 1 - (1 if second and len(files) > 1 else 0))
        path = container.selectbox("Checkpoint", files, index=default, format_func=lambda p: p.name,
                                   key=f"{slot}_ckpt")
        container.caption("Pick two steps of one run to see how the map organises itself during training.")
        return str(path)
    text = container.text_input("Checkpoint path", key=f"{slot}_path", placeholder="/path/to/model.safetensors")
    container.caption("An SSL Lab `.safetensors` file, or a DINO / timm ViT file.")
    return text.strip() or None


# ---- the controls ------------------------------------------------------------------------------

left, mid, right = st.columns(3)
with left:
    st.subheader("Model")
    ckpt_a = pick_checkpoint("a", st)
    compare = st.toggle("Compare with a second checkpoint", key="compare")
    st.caption("Two maps side by side on the same images, each with its kNN accuracy beside raw pixels.")
    ckpt_b = pick_checkpoint("b", st, second=True) if compare else None

with mid:
    st.subheader("Data")
    from ssl_core.data import builtin_names

    builtins = {k: v for k, v in builtin_names().items() if k != "photos"}
    choice = st.selectbox("Dataset", [*builtins, FOLDER], key="data",
                          format_func=lambda n: f"{n}: {builtins[n][:60]}" if n in builtins else n)
    st.caption("Built-ins need no download; a folder with class sub-folders gives labels to colour by.")
    spec = choice
    if choice == FOLDER:
        spec = st.text_input("Folder path", key="folder", placeholder="/path/to/images").strip()
    split = st.radio("Split", ["test", "train"], horizontal=True, key="split")
    st.caption("Held-out images show what the model generalises to; training images what it has seen.")
    limit = int(st.number_input("Images", 50, 50_000, 2000, step=500, key="limit"))
    st.caption("How many images to map (a class-balanced subset). 10,000 take seconds once the features "
               "are cached.")

with right:
    st.subheader("Embedding and projection")
    pool = st.radio("Embedding", ["cls", "mean"], horizontal=True, key="pool",
                    format_func={"cls": "CLS token", "mean": "Mean of patch tokens"}.get)
    st.caption("The CLS token is what the SSL loss trained; the mean of the patch tokens describes the whole "
               "image more evenly. ResNets give their pooled map either way.")
    depth = None
    if ckpt_a:
        with user_errors():
            depth = models.describe(ckpt_a)["arch"].get("depth")
    layer = int(st.number_input("Layer", -1, (depth - 1) if depth else -1, -1, key="layer",
                                disabled=not depth))
    st.caption("Which transformer block to read: -1 is the last (normalised) output; early blocks see colour "
               "and texture, late ones objects.")
    method = st.radio("Projection", ["umap", "pca", "tsne"], horizontal=True, key="method",
                      format_func={"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}.get)
    st.caption(METHOD_HELP[method])
    options = {}
    if method == "umap":
        options["n_neighbors"] = st.slider("UMAP neighbours", 5, 50, 15, key="n_neighbors")
        st.caption("How many neighbours define 'local': few give many small clumps, many a smoother map.")
    elif method == "tsne":
        options["perplexity"] = float(st.slider("Perplexity", 5, 50, 30, key="perplexity"))
        st.caption("About how many neighbours each point attends to.")

if not ckpt_a or not spec:
    st.info("Choose a model and a dataset above to draw the map.")
    st.stop()

request = dict(a=ckpt_a, b=ckpt_b if compare else None, spec=spec, split=split, limit=limit, pool=pool,
               layer=layer, method=method, options=tuple(sorted(options.items())))
go = st.button("Draw the map", type="primary", icon=":material/scatter_plot:")
st.caption("Features come from the feature cache (computed once per checkpoint and dataset, with a progress "
           "bar), then the projection runs; both are kept for reruns.")
if go:
    st.session_state["map_request"] = request
drawn = st.session_state.get("map_request")
if not drawn:
    st.stop()
if drawn != request:
    st.caption(":material/info: The settings changed since the map was drawn: press **Draw the map** again.")


# ---- computing (all in ssl_core; cached here) -----------------------------------------------------

def features(ckpt: str, r: dict) -> dict:
    from ssl_core.analysis import embedding as emb

    key = ("features", ckpt, models.stamp(ckpt), r["spec"], r["split"], r["limit"], r["layer"], r["pool"])

    def make():
        bar = st.progress(0.0, text=f"Features of {r['spec']} through {Path(ckpt).name}...")
        try:
            out = emb.dataset_embedding(ckpt, r["spec"], r["split"], r["limit"], r["layer"], r["pool"],
                                        progress=lambda f: bar.progress(min(1.0, f), text=f"Features: {f:.0%}"))
        finally:
            bar.empty()
        return out

    return remember(key, make)


def images(ckpt: str, r: dict):
    from ssl_core.data import load_data

    size = models.describe(ckpt)["arch"]["img_size"]
    return remember(("images", r["spec"], r["split"], r["limit"], size),
                    lambda: load_data(r["spec"], r["split"], size, r["limit"]))


def projection(ckpt: str, r: dict, feats) -> np.ndarray:
    from ssl_core.analysis import embedding as emb

    key = ("map", ckpt, models.stamp(ckpt), r["spec"], r["split"], r["limit"], r["layer"], r["pool"], r["method"],
           r["options"])
    with st.spinner(f"{r['method'].upper()} of {len(feats)} points..."):
        return remember(key, lambda: emb.project(feats, r["method"], seed=0, **dict(r["options"])))


def extras(ckpt: str, r: dict, feats, labels, kind: str, k: int = 10):
    from ssl_core.analysis import embedding as emb

    key = (kind, k, ckpt, models.stamp(ckpt), r["spec"], r["split"], r["limit"], r["layer"], r["pool"])
    if kind == "clusters":
        return remember(key, lambda: emb.kmeans(feats, k))
    return remember(key, lambda: emb.knn_correct(feats, labels))


def pixel_baseline(r: dict, imgs) -> float | None:
    from ssl_core.analysis import embedding as emb

    return remember(("pixels", r["spec"], r["split"], r["limit"], imgs.size),
                    lambda: emb.pixel_baseline(imgs.images, imgs.labels))


maps = {}
with user_errors():
    for name, ckpt in (("A", drawn["a"]), ("B", drawn["b"])):
        if not ckpt:
            continue
        f = features(ckpt, drawn)
        maps[name] = {"ckpt": ckpt, **f, "coords": projection(ckpt, drawn, f["features"])}
if not maps:
    st.stop()
first = maps["A"]
imgs = images(first["ckpt"], drawn)
labels = first["labels"].numpy()
labelled = bool((labels >= 0).any())
n = len(labels)

# ---- colour ------------------------------------------------------------------------------------
from ssl_core.analysis import embedding as emb  # noqa: E402
from ssl_core.analysis import thumbnails  # noqa: E402

colour_options = (["label"] if labelled else []) + [f"factor: {f}" for f in emb.factor_names(first["factors"])] \
    + (["kNN correct"] if labelled else []) + ["k-means cluster"]
c1, c2, c3 = st.columns([2, 1, 1])
colour = c1.selectbox("Colour by", colour_options, key="colour")
c1.caption("Label: the true class (never used in training). Factors: what the procedural scenes were drawn "
           "with. kNN correct: whether an image's 20 nearest neighbours vote for its class. Cluster: k-means "
           "on the embeddings, no labels at all.")
k_clusters = c2.slider("Clusters", 2, 30, 10, key="k_clusters")
c2.caption("k for k-means; also exported in the CSV.")
show_thumbs = c3.toggle("Thumbnails on the map", key="thumbs")
c3.caption("Draw up to 150 small images spread over the map, to see what each region holds.")

for m in maps.values():
    m["clusters"] = extras(m["ckpt"], drawn, m["features"], labels, "clusters", k_clusters)
    m["correct"] = extras(m["ckpt"], drawn, m["features"], labels, "correct") if labelled else None


def categories(m: dict) -> tuple[np.ndarray, list[str]]:
    """Per point a category id, and the category names, for the chosen colouring."""
    if colour == "label":
        names = list(first["class_names"])
        return labels, names
    if colour.startswith("factor: "):
        values = emb.factor_values(first["factors"], colour.split(": ", 1)[1])
        names = sorted(set(values))
        return np.array([names.index(v) for v in values]), names
    if colour == "kNN correct":
        return m["correct"].astype(int), ["wrong", "right"]
    return m["clusters"], [f"cluster {i}" for i in range(int(m["clusters"].max()) + 1)]


def figure(m: dict, title: str):
    import plotly.graph_objects as go

    cats, names = categories(m)
    xy = m["coords"]
    fig = go.Figure()
    hover_names = n <= 20_000  # file names in the hover label only while the message stays small
    for c, cname in enumerate(names):
        idx = np.flatnonzero(cats == c)
        if not len(idx):
            continue
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=cname, customdata=idx,
            text=[first["names"][i] for i in idx] if hover_names else None,
            marker=dict(size=5 if n < 5000 else 3, opacity=0.8),
            hovertemplate=f"#%{{customdata}} · {cname}" + ("<br>%{text}" if hover_names else "") + "<extra></extra>"))
    if show_thumbs:
        pick = thumbnails.spread_sample(xy, 150)
        span = xy.max(0) - xy.min(0)
        size = float(max(span.max(), 1e-6) / 20)
        for i in pick:
            fig.add_layout_image(source=thumbnails.data_uri(imgs.images[i], 32), x=float(xy[i, 0]),
                                 y=float(xy[i, 1]), xref="x", yref="y", sizex=size, sizey=size,
                                 xanchor="center", yanchor="middle", layer="above")
    fig.update_layout(title=title, height=560, dragmode="select", legend=dict(itemsizing="constant"),
                      margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(showticklabels=False, title=None),
                      yaxis=dict(showticklabels=False, title=None, scaleanchor="x"))
    return fig


def score_line(m: dict, baseline: float | None) -> None:
    if not labelled:
        st.caption("Unlabelled data: no kNN accuracy.")
        return
    acc = float(m["correct"][labels >= 0].mean())
    a, b = st.columns(2)
    a.metric("kNN top-1 (k=20)", f"{acc:.3f}",
             delta=f"{acc - baseline:+.3f} vs pixels" if baseline is not None else None)
    b.metric("Raw pixels, same kNN", f"{baseline:.3f}" if baseline is not None else "-")
    st.caption("Leave-one-out: each image is classified by a weighted vote of its 20 nearest other images "
               "(cosine, T=0.1). Raw pixels is the same vote on the pixels: the bar a model must clear.")


# ---- the map(s) ---------------------------------------------------------------------------------
baseline = pixel_baseline(drawn, imgs) if labelled else None
method_name = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}[drawn["method"]]
selected, clicked = set(), None
images_token = f"{abs(hash((drawn['spec'], drawn['split'], drawn['limit'], imgs.size))):x}"


def sheet(k: int) -> bytes:
    return thumbnails.contact_sheet(imgs.images, k * PER_SHEET, PER_SHEET, SIZE, COLS)


columns = st.columns(len(maps))
for col, (name, m) in zip(columns, maps.items()):
    with col:
        title = f"{method_name} of {Path(m['ckpt']).name}" + (f" ({name})" if len(maps) > 1 else "")
        event = st.plotly_chart(figure(m, title), key=f"map_{name}", on_select="rerun",
                                selection_mode=("points", "box", "lasso"),
                                config={"scrollZoom": True, "displaylogo": False})
        hover_thumbnails(f"map_{name}", images_token, sheet)
        score_line(m, baseline)
        sel = event.selection if event else None
        if sel:
            points = [int(p["customdata"] if np.isscalar(p.get("customdata")) else p["customdata"][0])
                      for p in sel.get("points", []) if p.get("customdata") is not None]
            if sel.get("box") or sel.get("lasso"):
                selected.update(points)
            elif len(points) == 1:
                clicked = (name, points[0])
st.caption("Hover a point to see its picture. Drag to select a box (the lasso is in the chart's toolbar) and "
           "the gallery below fills; click a point to see its nearest neighbours. Scroll to zoom, double-click "
           "to reset.")


def show_images(indices, captions, width=72):
    st.image([thumbnails.thumbnail_png(imgs.images[i], 64) for i in indices], caption=captions, width=width)


def caption(i: int) -> str:
    lab = int(labels[i])
    return f"#{i} {first['class_names'][lab]}" if labelled and lab >= 0 else f"#{i}"


if clicked:
    name, i = clicked
    m = maps[name]
    st.subheader(f"Image #{i} and its nearest neighbours")
    st.caption("Nearest in feature space (cosine similarity of the embeddings), not on the map: if they are "
               "far apart on the map, the projection has torn a neighbourhood.")
    idx, sims = emb.neighbours(m["features"], i, 11)
    cols = st.columns([1, 5])
    with cols[0]:
        show_images([i], [f"{caption(i)} · {first['names'][i]}"], width=128)
    with cols[1]:
        show_images(list(idx), [f"{caption(j)} · {s:.2f}" for j, s in zip(idx, sims)])

rows = emb.coordinates_table(first["coords"], first["names"], labels if labelled else None,
                             first["class_names"], first["clusters"], first["correct"])
if selected:
    chosen = sorted(selected)
    st.subheader(f"Selection: {len(chosen)} images")
    if labelled:
        counts = np.bincount(labels[chosen][labels[chosen] >= 0], minlength=len(first["class_names"]))
        top = counts.argsort()[::-1][:3]
        st.caption("Most common classes: " + ", ".join(f"{first['class_names'][c]} ({counts[c]})"
                                                      for c in top if counts[c]))
    show_images(chosen[:GALLERY_MAX], [caption(i) for i in chosen[:GALLERY_MAX]])
    if len(chosen) > GALLERY_MAX:
        st.caption(f"Showing the first {GALLERY_MAX}; the export below holds all {len(chosen)}.")
    st.download_button("Export the selection (CSV)", emb.to_csv(rows, chosen), file_name="selection.csv",
                       mime="text/csv", icon=":material/download:")

st.download_button("Export the coordinates (CSV)", emb.to_csv(rows), file_name=f"map-{drawn['method']}.csv",
                   mime="text/csv", icon=":material/download:")
st.caption("One row per image: file name, x, y, label, k-means cluster and kNN correctness. The same file "
           f"comes from `python -m ssl_core embed --checkpoint {Path(first['ckpt']).name} --data {drawn['spec']} "
           f"--method {drawn['method']} --out coords.csv`.")
