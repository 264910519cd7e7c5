"""Everything the Map computes, cached for every session of the server (st.cache_*: bounded, thread-safe).

Features come from the engine's on-disk feature store, which is their cache: a rerun, another tab or a
restarted server reads them back (milliseconds) and never runs the model again for the same question.
Projections, clusters and kNN scores are cached here.
Arguments starting with `_` are not hashed: the cache key is the checkpoint path and its stamp (its
modification time) with the request, so a retrained checkpoint is never served stale.
"""

import numpy as np
import streamlit as st

from ssl_core.analysis import embedding as emb
from ssl_core.data import load_data
from ssl_core.features import dataset_features

DTYPE = "auto"  # bfloat16 where the CPU runs it fast: a map needs speed, not the last digit (the page says so)


def features(ckpt: str, spec: str, split: str, limit: int, layer: int, pool: str, twin: bool = False, progress=None):
    """The pooled embedding (N, D) and the Features it came from (labels, names, factor codes)."""
    f = dataset_features(ckpt, spec, split, limit, layer, (pool,), DTYPE, random_init_twin=twin, progress=progress)
    return f, f.pooled(pool)


@st.cache_resource(max_entries=4, show_spinner="Reading the images...")
def images(spec: str, split: str, limit: int, size: int):
    return load_data(spec, split, size, limit)


@st.cache_data(max_entries=16, show_spinner=False)
def projection(ckpt: str, stamp: float, request: tuple, method: str, options: tuple, _feats) -> np.ndarray:
    return emb.project(_feats, method, seed=0, **dict(options))


@st.cache_data(max_entries=32, show_spinner=False)
def clusters(ckpt: str, stamp: float, request: tuple, k: int, _feats) -> np.ndarray:
    return emb.kmeans(_feats, k)


@st.cache_data(max_entries=32, show_spinner=False)
def knn_correct(ckpt: str, stamp: float, request: tuple, twin: bool, _feats, _labels) -> np.ndarray:
    return emb.knn_correct(_feats, _labels)


@st.cache_data(max_entries=16, show_spinner=False)
def pixel_baseline(spec: str, split: str, limit: int, size: int, _images, _labels) -> float | None:
    return emb.pixel_baseline(_images, _labels)
