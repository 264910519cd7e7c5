"""The feature browser: a dictionary's latents by density or peak, searchable by the factor they track; a card
per latent (top images with heatmaps, activation histogram, density, what it tracks); the latents that fire
on a clicked patch; steering a latent and watching the similarity map and a factor probe change; exports."""

import io
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from app import clickable_image as ci
from app import images as pictures
from app import models, overlays
from app.charts import readable
from app.dictionary import compute
from app.pickers import dictionary_picker
from app.ui import user_errors
from ssl_core.analysis import similarity as sim
from ssl_core.sae.browse import steer
from ssl_core.sae.dictionaries import fit_probe

CLICKS = "dict_patch"


def histogram(values: np.ndarray, title: str, xaxis: str):
    fig = go.Figure(go.Histogram(x=values, nbinsx=30, marker_color="#4477aa"))
    fig.update_layout(title=title, height=260, xaxis_title=xaxis, yaxis_title="count",
                      margin=dict(l=10, r=10, t=40, b=10))
    return readable(fig)


def density_chart(d):
    counts, edges = d.histogram()
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), marker_color="#4477aa"))
    fig.update_layout(title="Firing density of the live latents", height=260,
                      xaxis_title="log10 fraction of tokens a latent fires on", yaxis_title="latents",
                      margin=dict(l=10, r=10, t=40, b=10))
    return readable(fig)


def card(d, images, j: int, track: dict) -> None:
    top = d.top_images(j, 8)
    a, b, c = st.columns(3)
    a.metric("Firing density", f"{float(d.density[j]):.2%}")
    b.metric("Peak activation", f"{float(d.peak[j]):.2f}")
    c.metric("Tracks", f"{track.get('factor')}={track.get('value')}" if track.get("factor") else "-",
             help="The factor value whose presence its firing on an image predicts best (F1).")
    if track.get("factor"):
        st.caption(f"Firing on an image against {track['factor']} = {track['value']}: precision {track['precision']:.2f}, "
                   f"recall {track['recall']:.2f}, F1 {track['f1']:.2f}.")
    if not top:
        st.info("This latent never fires on these images (a dead latent).")
        return
    shown = [overlays.blend(pictures.enlarge(pictures.to_hwc(images.images[i]), 128),
                            overlays.colorize(upsample(d.heatmap(i, j), 128), "Inferno", 0.0, float(d.peak[j])), 0.55)
             if d.kind == "patch" else pictures.enlarge(pictures.to_hwc(images.images[i]), 128) for i in top]
    st.image(shown, caption=[f"#{i} · {float(d.image_max[i, j]):.2f}" for i in top], width=150)
    st.caption("Its top images: the heat shows where on each image it fires (bright = strong).")
    acts = d.image_max[:, j].numpy()
    st.plotly_chart(histogram(acts[acts > 0], "Its activation on the images where it fires", "largest activation"),
                    key="dict_hist")
    grid = np.concatenate([s for s in shown], axis=1) if shown else None
    st.download_button("Top images (PNG)", overlays.png_bytes(grid), file_name=f"feature{j:05d}-top.png",
                       mime="image/png", key="dict_dl_top")


def upsample(grid: np.ndarray, size: int) -> np.ndarray:
    return overlays.upsample_grid(np.asarray(grid, np.float32), size, size)


def patch_view(d, images, j: int) -> None:
    st.markdown("**Click a patch**")
    options = d.top_images(j, 8) or [0]
    i = st.selectbox("Image", options, key="dict_image", format_func=lambda v: f"#{v}")
    big = pictures.enlarge(pictures.to_hwc(images.images[i]), 256)
    h, w = d.grid.shape[1:3]
    frame = sim.make_frame(big.shape[1], big.shape[0], big.shape[1] // w, big.shape[1])
    key = f"{CLICKS}_{i}"
    clicks = ci.clicks(key)
    c1, c2 = st.columns(2)
    with c1:
        ci.clickable_image(key, overlays.mark_clicks(big, clicks), frame, "dict_mode", width=big.shape[1])
        st.caption("Click a patch: the latents that fire there, strongest first.")
    if not clicks:
        return
    row, col = frame.patch_of(clicks[-1]["x"], clicks[-1]["y"])
    with c2:
        st.dataframe([{"latent": lj, "activation": round(a, 3)} for lj, a in d.at_patch(i, row, col)], hide_index=True)
    steering(d, images, i, j, row, col)


def steering(d, images, i: int, j: int, row: int, col: int) -> None:
    st.markdown(f"**Steer latent {j} on image #{i}**")
    factor = st.slider("Scale", 0.0, 3.0, 0.0, 0.5, key="dict_scale")
    st.caption("0 switches the latent off; 2 doubles it. The rest of the features, and the SAE's error, stay as they were.")
    g = d.grid[i]
    edited = steer(d.sae, g, j, factor)
    maps = []
    for tokens in (g, edited):
        unit = torch.nn.functional.normalize(tokens, dim=-1)
        maps.append((unit @ unit[row, col]).numpy())
    pic = pictures.to_hwc(images.images[i])
    shown = [overlays.blend(pictures.enlarge(pic, 192), overlays.colorize(upsample(m, 192), "Viridis", -1.0, 1.0), 0.6)
             for m in maps]
    st.image(shown, caption=["Similarity to the clicked patch", f"... with latent {j} scaled by {factor:g}"], width=192)
    codes = dict(d.features.codes)
    if codes:
        name = st.selectbox("Factor probe", list(codes), key="dict_probe_factor")
        probe = fitted_probe(d, name)
        before, after = (int(probe.predict(t.mean(dim=(0, 1))[None])[0]) for t in (g, edited))
        vocab = d.features.vocab[name]
        st.caption(f"A linear probe of {name} on the image's mean patch token reads {vocab[before]} before and "
                   f"{vocab[after]} after the edit.")


def fitted_probe(d, name: str):
    key = f"dict_probe_{id(d)}_{name}"
    if key not in st.session_state:
        x = d.grid.mean(dim=(1, 2))
        st.session_state[key] = fit_probe(x, d.features.codes[name].long(), len(d.features.vocab[name]))
    return st.session_state[key]


def show() -> None:
    st.subheader("Browse a dictionary")
    picked = dictionary_picker("dict_pick")
    if not picked:
        return
    name, path = picked
    with user_errors():
        sae, meta, d, images = compute.opened(path, models.stamp(path))
        tracks = compute.tracks(path, models.stamp(path))
        m = meta.get("metrics") or {}
        a, b, c, e = st.columns(4)
        a.metric("Explained variance", f"{m.get('explained_variance', float('nan')):.3f}",
                 help="On held-out tokens, when it was trained.")
        b.metric("PCA, same active dimensions", f"{m.get('pca_explained_variance', float('nan')):.3f}")
        c.metric("L0", f"{m.get('l0', float('nan')):.1f}")
        e.metric("Dead", f"{m.get('dead_fraction', float('nan')):.1%}")
        src = compute.source(meta)
        st.caption(f"{sae.width} latents ({sae.variant}, k = {sae.k}) over the {src['tokens']} tokens of "
                   f"`{src['data']}` through `{src['checkpoint']}`, layer {src['layer']}; {len(d.features)} images here.")
        st.plotly_chart(density_chart(d), key="dict_density")
        c1, c2 = st.columns(2)
        by = c1.radio("Sort by", ["density", "peak"], horizontal=True, key="dict_sort")
        values = sorted({f"{t['factor']}={t['value']}" for t in tracks if t.get("factor")})
        search = c2.selectbox("Tracks", ["any"] + values, key="dict_search")
        c2.caption("Only the latents whose firing tracks this factor value best.")
        order = [j for j in d.order(by) if search == "any" or f"{tracks[j].get('factor')}={tracks[j].get('value')}" == search]
        st.dataframe([{"latent": j, "density": round(float(d.density[j]), 4), "peak": round(float(d.peak[j]), 2),
                       "tracks": f"{tracks[j]['factor']}={tracks[j]['value']}" if tracks[j].get("factor") else "",
                       "F1": round(tracks[j].get("f1", 0.0), 2)} for j in order[:200]], hide_index=True, height=240)
        if not order:
            return
        j = int(st.number_input("Feature", 0, sae.width - 1, order[0], key="dict_feature"))
        st.markdown(f"#### Feature {j}")
        card(d, images, j, tracks[j])
        patch_view(d, images, j)
        st.download_button("Dictionary (.safetensors)", open(path, "rb").read, file_name=f"{name}.safetensors",
                           key="dict_dl_sae")
        rows = [{"latent": k, "density": float(d.density[k]), "peak": float(d.peak[k]), **tracks[k]} for k in range(sae.width)]
        buf = io.StringIO()
        json.dump({"metrics": m, "latents": rows}, buf)
        st.download_button("Metrics (JSON)", buf.getvalue(), file_name=f"{name}-metrics.json", key="dict_dl_json")
