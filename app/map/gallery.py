"""What a click or a selection on the map shows: a point's nearest neighbours, a gallery of the selection."""

import numpy as np
import streamlit as st

from ssl_core.analysis import embedding as emb
from ssl_core.analysis import thumbnails

GALLERY_MAX = 60


def show_images(images, indices, captions, width: int = 72) -> None:
    st.image([thumbnails.thumbnail_png(images[i], 64) for i in indices], caption=captions, width=width)


def caption(features, i: int) -> str:
    lab = int(features.labels[i])
    return f"#{i} {features.class_names[lab]}" if 0 <= lab < len(features.class_names) else f"#{i}"


def neighbours(features, embedding, images, i: int) -> None:
    st.subheader(f"Image #{i} and its nearest neighbours")
    st.caption("Nearest in feature space (cosine similarity of the embeddings), not on the map: if they are "
               "far apart on the map, the projection has torn a neighbourhood.")
    idx, sims = emb.neighbours(embedding, i, 11)
    cols = st.columns([1, 5])
    with cols[0]:
        show_images(images, [i], [f"{caption(features, i)} · {features.names[i]}"], width=128)
    with cols[1]:
        show_images(images, list(idx), [f"{caption(features, j)} · {s:.2f}" for j, s in zip(idx, sims)])


def sample_across(chosen: list[int], count: int = GALLERY_MAX, seed: int = 0) -> list[int]:
    """At most `count` of the chosen points, drawn across the whole selection (not its first indices, which
    in a class-sorted dataset are all one class), in index order."""
    if len(chosen) <= count:
        return sorted(chosen)
    return sorted(np.random.default_rng(seed).choice(chosen, count, replace=False).tolist())


def selection(features, images, chosen: list[int]) -> None:
    st.subheader(f"Selection: {len(chosen)} images")
    labels = features.labels.numpy()
    if features.labelled:
        counts = np.bincount(labels[chosen][labels[chosen] >= 0], minlength=len(features.class_names))
        top = counts.argsort()[::-1][:3]
        st.caption("Most common classes: " + ", ".join(f"{features.class_names[c]} ({counts[c]})"
                                                      for c in top if counts[c]))
    shown = sample_across(chosen)
    show_images(images, shown, [caption(features, i) for i in shown])
    if len(chosen) > len(shown):
        st.caption(f"Showing {len(shown)} drawn across the selection; the export below holds all {len(chosen)}.")
