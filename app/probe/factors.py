"""Factor probes: what a checkpoint's frozen features encode, factor by factor, beside raw pixels and the
random-init twin; two checkpoints side by side."""

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import models, state
from app.charts import readable
from app.pickers import checkpoint_picker
from app.ui import attempt, user_errors
from ssl_core.probe.factors import factor_probes


@st.cache_data(max_entries=32, show_spinner=False)
def cached_probes(ckpt: str, stamp: float, data: str, layer: int) -> dict:
    return factor_probes(ckpt, data, layer)


def figure(results: dict[str, dict], probe: str):
    fig = go.Figure()
    first = next(iter(results.values()))
    factors = [f["factor"] for f in first["factors"]]
    for name, r in results.items():
        fig.add_trace(go.Bar(name=name, x=factors, y=[f["model"][probe] for f in r["factors"]]))
    for key, label, dash in (("pixels", "raw pixels", "dash"), ("random_init", "random init", "dot")):
        fig.add_trace(go.Scatter(name=label, x=factors, y=[f[key][probe] for f in first["factors"]], mode="markers",
                                 marker=dict(symbol="line-ew-open", size=28, line=dict(width=3))))
    fig.add_trace(go.Scatter(name="most common value", x=factors, y=[f["chance"] for f in first["factors"]],
                             mode="markers", marker=dict(symbol="line-ew", size=28, color="grey", line=dict(width=2))))
    fig.update_layout(barmode="group", height=420, yaxis=dict(range=[0, 1], title="test accuracy"),
                      title=f"{'Linear probe' if probe == 'linear' else 'kNN (k=20)'} accuracy per factor",
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))
    return readable(fig)


def show() -> None:
    st.subheader("Factor probes")
    st.caption("Which factors of the images can be read off a checkpoint's frozen features? A linear probe and a kNN "
               "vote per factor, trained on the training split and scored on the test split, beside the same probes "
               "on raw pixels and on an untrained network of the same shape.")
    c1, c2 = st.columns(2)
    with c1:
        ckpt = checkpoint_picker("fac")
        compare = st.toggle("Compare with a second checkpoint", key="fac_compare")
        ckpt_b = checkpoint_picker("fac_b", label="Second model", second=True) if compare else None
    with c2:
        data = st.text_input("Data", "shapes", key="fac_data")
        st.caption("The scenes (`shapes`: shape, colour, texture, size, position, background, number of objects) or a "
                   "folder of class sub-folders (its labels).")
        layer = int(st.number_input("Layer", -1, 47, -1, key="fac_layer"))
        st.caption("The block (ViT) or stage (CNN) to read; -1 is the last.")
        probe = st.radio("Probe", ["linear", "knn"], horizontal=True, key="fac_probe",
                         format_func={"linear": "Linear probe", "knn": "kNN"}.get)
    if not ckpt or not data.strip():
        st.info("Choose a checkpoint and data.")
        return
    if st.button("Probe the factors", type="primary", icon=":material/query_stats:", key="fac_run"):
        spec = attempt(state.allowed_data, data.strip())
        if spec:
            st.session_state["fac_asked"] = (ckpt, ckpt_b, spec, layer)
    asked = st.session_state.get("fac_asked")
    if not asked:
        st.caption("The features are extracted once per checkpoint and data (a minute on a laptop), then reused.")
        return
    with user_errors(), st.spinner("Fitting the probes..."):
        results = {}
        for c in (asked[0], asked[1]):
            if c:
                results[Path(c).name] = cached_probes(c, models.stamp(c), asked[2], asked[3])
        st.plotly_chart(figure(results, probe), key="fac_chart")
        first = next(iter(results.values()))
        st.caption(f"{first['n_train']} training and {first['n_test']} test images, {first['pool']} features, layer "
                   f"{first['layer']} ({first['dtype']}). Bars: the checkpoint(s); open marks: raw pixels (dashed) and "
                   "the random-init twin; grey: always answering the most common value.")
        st.dataframe([{"factor": f["factor"], "values": f["values"], "most common": round(f["chance"], 3),
                       **{f"{name} {k}": round(r["factors"][i]["model"][k], 3) for name, r in results.items()
                          for k in ("linear", "knn")},
                       "pixels linear": round(f["pixels"]["linear"], 3), "random init linear":
                       round(f["random_init"]["linear"], 3)} for i, f in enumerate(first["factors"])], hide_index=True)
