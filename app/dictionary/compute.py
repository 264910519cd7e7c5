"""What the Dictionary page computes, cached for every session of the server (st.cache_*: bounded).

An SAE file names the features it learnt (checkpoint, data, layer, token kind); the browser opens those
features from the feature store and applies the SAE once (`ssl_core.sae.browse.apply`).
"""

from pathlib import Path

import streamlit as st

from app import state
from ssl_core import runs
from ssl_core.data import load_data
from ssl_core.features import dataset_features
from ssl_core.sae.browse import apply, kept_use, object_tokens
from ssl_core.sae.dictionaries import factor_report
from ssl_core.sae.files import load_sae

LIMIT = 2000  # images the browser reads at most
SHIPPED = Path("assets/dictionaries")  # relative to the repository root, where `streamlit run` starts


def shipped() -> dict[str, Path]:
    """{name: SAE file} for the dictionaries shipped with SSL Lab."""
    return {f"shipped: {p.stem}": p for p in sorted(SHIPPED.glob("*.safetensors"))}


def dictionaries() -> dict[str, Path]:
    """{name: SAE file} for every SAE run's newest checkpoint, then the dictionaries shipped with SSL Lab."""
    root = state.runs_root()
    found = {r.name: runs.latest_checkpoint(r.path) for r in (runs.list_runs(root, kind="sae") if root.exists() else [])}
    return {**{k: v for k, v in found.items() if v}, **shipped()}


def source(meta: dict) -> dict:
    """Where an SAE's features came from: {"checkpoint", "data", "layer", "tokens"}."""
    cfg, src = meta.get("config") or {}, meta.get("source") or {}
    return {"checkpoint": cfg.get("checkpoint"), "data": cfg.get("data") or src.get("data"),
            "layer": int(cfg.get("layer", src.get("layer", -1))), "tokens": cfg.get("tokens") or src.get("tokens", "patch")}


@st.cache_resource(max_entries=4, show_spinner="Applying the dictionary to its features...")
def opened(path: str, stamp: float):
    """(the SAE, its metadata, its Dictionary over the source images, the images)."""
    sae, meta = load_sae(path)
    s = source(meta)
    f = dataset_features(s["checkpoint"], s["data"], "all", LIMIT, s["layer"], (s["tokens"],), "auto")
    return sae, meta, apply(sae, f, s["tokens"]), load_data(s["data"], "all", f.source["size"], LIMIT)


@st.cache_data(max_entries=8, show_spinner=False)
def tracks(path: str, stamp: float) -> list[dict]:
    _, _, d, _ = opened(path, stamp)
    codes = dict(d.features.codes) or ({"label": d.features.labels} if d.features.labelled else {})
    vocab = dict(d.features.vocab) if d.features.codes else {"label": d.features.class_names}
    return d.tracks(codes, vocab) if codes else [{} for _ in range(d.sae.width)]


@st.cache_data(max_entries=8, show_spinner="Comparing with the supervised dictionaries...")
def comparison(path: str, stamp: float) -> dict:
    sae, meta, d, images = opened(path, stamp)
    tokens, codes, vocab = object_tokens(d.features, d.kind, images.masks)
    report = factor_report(sae, tokens, codes, {k: len(v) for k, v in vocab.items()})
    return {**report, "vocab": vocab, "rows": len(tokens)}


@st.cache_data(max_entries=8, show_spinner="Probing the reconstructed features...")
def kept(path: str, stamp: float) -> dict:
    sae, meta, _, _ = opened(path, stamp)
    s = source(meta)
    train, test = (dataset_features(s["checkpoint"], s["data"], split, LIMIT, s["layer"], (s["tokens"],), "auto")
                   for split in ("train", "test"))
    return kept_use(sae, train, test, s["tokens"])
