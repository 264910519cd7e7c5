"""The map as a Plotly chart: one WebGL trace per category, the image index in `customdata`, optional
thumbnails drawn on the map."""

import numpy as np
import plotly.graph_objects as go

from app.charts import readable
from ssl_core.analysis import thumbnails

HOVER_NAMES_MAX = 20_000  # file names in the hover label only while the message stays small


def colour_options(features, labelled: bool) -> list[str]:
    factors = [f"factor: {k}" for k in features.codes if k != "shape"]
    return (["label"] if labelled else []) + factors + (["kNN correct"] if labelled else []) + ["k-means cluster"]


def categories(colour: str, features, correct, clusters) -> tuple[np.ndarray, list[str]]:
    """Per point a category id, and the category names, for the chosen colouring."""
    if colour == "label":
        return features.labels.numpy(), list(features.class_names)
    if colour.startswith("factor: "):
        name = colour.split(": ", 1)[1]
        return features.codes[name].numpy(), list(features.vocab[name])
    if colour == "kNN correct":
        return correct.astype(int), ["wrong", "right"]
    return clusters, [f"cluster {i}" for i in range(int(clusters.max()) + 1)]


def figure(xy: np.ndarray, cats: np.ndarray, names: list[str], point_names: list[str], title: str, images=None):
    """The scatter; with `images`, up to 150 thumbnails spread over the map."""
    n = len(xy)
    fig = go.Figure()
    hover_names = n <= HOVER_NAMES_MAX
    for c, cname in enumerate(names):
        idx = np.flatnonzero(cats == c)
        if not len(idx):
            continue
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=cname, customdata=idx,
            text=[point_names[i] for i in idx] if hover_names else None,
            marker=dict(size=5 if n < 5000 else 3, opacity=0.8),
            hovertemplate=f"#%{{customdata}} · {cname}" + ("<br>%{text}" if hover_names else "") + "<extra></extra>"))
    if images is not None:
        pick = thumbnails.spread_sample(xy, 150)
        span = xy.max(0) - xy.min(0)
        size = float(max(span.max(), 1e-6) / 20)
        for i in pick:
            fig.add_layout_image(source=thumbnails.data_uri(images[i], 32), x=float(xy[i, 0]), y=float(xy[i, 1]),
                                 xref="x", yref="y", sizex=size, sizey=size, xanchor="center", yanchor="middle",
                                 layer="above")
    fig.update_layout(title=title, height=560, dragmode="select", legend=dict(itemsizing="constant"),
                      margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(showticklabels=False, title=None),
                      yaxis=dict(showticklabels=False, title=None, scaleanchor="x"))
    return readable(fig)


def selected_points(event) -> tuple[list[int], bool]:
    """(image indices, whether it was a box or lasso selection) of a chart's selection event."""
    sel = event.selection if event else None
    if not sel:
        return [], False
    points = [int(p["customdata"] if np.isscalar(p.get("customdata")) else p["customdata"][0])
              for p in sel.get("points", []) if p.get("customdata") is not None]
    return points, bool(sel.get("box") or sel.get("lasso"))
