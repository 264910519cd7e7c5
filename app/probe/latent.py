"""The latent lab: one setting's bias with the decision regions of the model and of the Bayes rule, the
heatmap over availability x predictivity, and bias against depth. Every cell is cached for the server."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.charts import readable
from app.ui import user_errors
from ssl_core.probe.latent import LatentSpec
from ssl_core.probe.shortcut import ModelSpec, cell

RATIOS = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
RHOS = [0.6, 0.7, 0.8, 0.9, 0.95]
FORMULA = ("Shortcut bias (our formula; the paper's exact normalisation is not public): reliance(M) = "
           "|E[y_M sign(z_s)]| - |E[y_M sign(z_c)]| on a grid over the latent plane, and bias = reliance(model) - "
           "reliance(Bayes). Above 0: the model leans on the shortcut more than the best possible classifier does.")


@st.cache_data(max_entries=512, show_spinner=False)
def cached_cell(spec: LatentSpec, model: ModelSpec, seeds: int) -> dict:
    return cell(spec, model, seeds)


DEFAULTS = {"lab_rho_s": 0.9, "lab_ratio": 1.0, "lab_nest_s": 0, "lab_depth": 1, "lab_seeds": 3}


def controls() -> tuple[LatentSpec, ModelSpec, int]:
    for k, v in DEFAULTS.items():  # defaults through session state: a lesson link may set them first
        st.session_state.setdefault(k, v)
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**The shortcut**")
        rho_s = st.slider("Shortcut predictivity", 0.55, 1.0, step=0.05, key="lab_rho_s")
        st.caption("How often the sign of the shortcut z_s agrees with the label. The core's is 0.9.")
        ratio = st.select_slider("Availability (amplification ratio)", RATIOS, key="lab_ratio")
        st.caption("How much stronger the shortcut's signal is in the input than the core's (alpha_s / alpha_c).")
        nest_s = st.slider("Shortcut nesting", 0, 4, key="lab_nest_s")
        st.caption("Random nonlinear layers between the shortcut and the input: more makes it harder to read.")
    with c2:
        st.markdown("**The model**")
        kind = st.radio("Model", ["linear", "mlp"], horizontal=True, key="lab_model",
                        format_func={"linear": "Linear", "mlp": "MLP"}.get)
        st.caption("A linear classifier, or a multilayer perceptron trained by the same trainer.")
        depth = st.slider("Hidden layers", 1, 3, key="lab_depth", disabled=kind == "linear")
        activation = st.radio("Activation", ["relu", "tanh"], horizontal=True, key="lab_act",
                              disabled=kind == "linear")
        st.caption("The paper reports a bias already with one hidden layer, ReLU or Tanh.")
    with c3:
        st.markdown("**Training**")
        budget = st.radio("Training", ["to convergence", "short (2 epochs)"], key="lab_budget")
        st.caption("Converged: 60 epochs (linear) or 20 (MLP) on 3,200 examples, until the test accuracy reaches "
                   "the Bayes rate. Short: stopped early, when the more available feature has been learnt first.")
        seeds = st.slider("Seeds", 1, 5, key="lab_seeds")
        st.caption("Each seed draws new random maps, data and initialisation; figures are means with their spread.")
    model = ModelSpec(model=kind, depth=depth, activation=activation, epochs=2.0 if budget.startswith("short") else None)
    return LatentSpec(rho_shortcut=rho_s, alpha_shortcut=ratio, nest_shortcut=nest_s), model, seeds


def regions_figure(c: dict):
    fig = go.Figure()
    (zc_lo, zs_lo), (zc_hi, zs_hi) = c["regions"]["grid"][0][0], c["regions"]["grid"][1][1]
    for i, (name, key) in enumerate((("This model", "model"), ("Bayes-optimal", "bayes"))):
        d = np.array(c["regions"][key])
        fig.add_trace(go.Heatmap(z=d.T, x=np.linspace(zc_lo, zc_hi, d.shape[0]), y=np.linspace(zs_lo, zs_hi, d.shape[1]),
                                 colorscale=[[0, "#4477aa"], [1, "#ee6677"]], showscale=False, xaxis=f"x{i + 1}",
                                 yaxis=f"y{i + 1}", hovertemplate="z_c %{x:.2f}, z_s %{y:.2f}: %{z}<extra>" + name +
                                 "</extra>"))
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(domain=[0, 0.46], title="core z_c"), yaxis=dict(title="shortcut z_s"),
                      xaxis2=dict(domain=[0.54, 1], title="core z_c"), yaxis2=dict(anchor="x2"),
                      annotations=[dict(text=t, x=x, y=1.12, xref="paper", yref="paper", showarrow=False)
                                   for t, x in (("This model's decisions", 0.2), ("The Bayes-optimal rule's", 0.8))])
    return readable(fig)


def heatmap(rows: list[dict], ratios, rhos):
    z = np.array([[next(r["bias"] for r in rows if r["ratio"] == a and r["rho"] == p) for a in ratios] for p in rhos])
    s = np.array([[next(r["bias_std"] for r in rows if r["ratio"] == a and r["rho"] == p) for a in ratios] for p in rhos])
    text = [[f"{v:+.2f}<br>±{e:.2f}" for v, e in zip(zr, sr)] for zr, sr in zip(z, s)]
    fig = go.Figure(go.Heatmap(z=z, x=[str(a) for a in ratios], y=[str(p) for p in rhos], text=text,
                               texttemplate="%{text}", colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1,
                               colorbar=dict(title="bias")))
    fig.update_layout(title="Mean shortcut bias over seeds", height=420,
                      xaxis=dict(title="availability ratio alpha_s / alpha_c", type="category"),
                      yaxis=dict(title="shortcut predictivity", type="category"),
                      margin=dict(l=10, r=10, t=50, b=10))
    return readable(fig)


def depth_figure(rows: list[dict]):
    fig = go.Figure(go.Bar(x=[r["label"] for r in rows], y=[r["bias"] for r in rows],
                           error_y=dict(type="data", array=[r["bias_std"] for r in rows]), marker_color="#ee6677"))
    fig.update_layout(title="Shortcut bias against depth (mean ± std over seeds)", height=360,
                      yaxis=dict(title="bias", zeroline=True, zerolinewidth=2), margin=dict(l=10, r=10, t=50, b=10))
    return readable(fig)


def show() -> None:
    st.subheader("The latent lab")
    st.caption("Two hidden causes predict the label: a core feature z_c and a shortcut z_s. Each has a predictivity "
               "(how often it agrees with the label) and an availability (how easily a network can read it from the "
               "100-dimensional input). Which one does a trained model rely on, compared with the best possible "
               "classifier? (Hermann, Mobahi, Fel, Mozer, On the Foundations of Shortcut Learning, ICLR 2024.)")
    spec, model, seeds = controls()
    st.caption(FORMULA)
    view = st.radio("View", ["This setting", "Heatmap", "Bias against depth"], horizontal=True, key="lab_view")
    with user_errors():
        if view == "This setting":
            with st.spinner("Training..."):
                c = cached_cell(spec, model, seeds)
            a, b, d = st.columns(3)
            a.metric("Shortcut bias", f"{c['bias']:+.3f}", help=f"± {c['bias_std']:.3f} over {seeds} seeds")
            b.metric("Test accuracy", f"{c['accuracy']:.3f}", help=f"± {c['accuracy_std']:.3f}")
            d.metric("Bayes-optimal accuracy", f"{c['bayes_accuracy']:.3f}")
            st.caption(f"Reliance on the shortcut: model {c['reliance_model']:+.3f} ± {c['reliance_model_std']:.3f}, "
                       f"Bayes rule {c['reliance_bayes']:+.3f}. Bias ± its spread over seeds: {c['bias']:+.3f} ± "
                       f"{c['bias_std']:.3f}.")
            st.plotly_chart(regions_figure(c), key="lab_regions")
            st.caption("Red: the model says +1. The Bayes rule's boundary leans towards the more predictive latent; a "
                       "model that leans further towards the shortcut has a positive bias.")
        elif view == "Heatmap":
            c1, c2 = st.columns(2)
            ratios = c1.multiselect("Availability ratios", RATIOS, default=[0.5, 1.0, 2.0, 4.0, 8.0], key="lab_ratios")
            rhos = c2.multiselect("Shortcut predictivities", RHOS, default=RHOS, key="lab_rhos")
            st.caption("A cell per pair, each trained over the seeds; cells already trained are reused.")
            if st.button("Run the sweep", type="primary", icon=":material/grid_on:", disabled=not ratios or not rhos):
                st.session_state["lab_sweep"] = (sorted(ratios), sorted(rhos), model, seeds, spec.nest_shortcut)
            asked = st.session_state.get("lab_sweep")
            if asked:
                ratios, rhos, m, s, nest = asked
                bar, rows = st.progress(0.0), []
                for i, (a, p) in enumerate([(a, p) for p in rhos for a in ratios]):
                    c = cached_cell(LatentSpec(rho_shortcut=p, alpha_shortcut=a, nest_shortcut=nest), m, s)
                    rows.append({"ratio": a, "rho": p, "bias": c["bias"], "bias_std": c["bias_std"]})
                    bar.progress((i + 1) / (len(ratios) * len(rhos)), text=f"cell {i + 1} of {len(ratios) * len(rhos)}")
                bar.empty()
                st.plotly_chart(heatmap(rows, ratios, rhos), key="lab_heatmap")
                st.caption(f"{m.label}, {s} seed(s) a cell. Red: leans on the shortcut beyond Bayes; blue: on the core.")
        else:
            st.caption("The same data, a linear model and MLPs of one to three hidden layers.")
            rows = []
            bar = st.progress(0.0)
            models = [ModelSpec(model="linear", epochs=model.epochs)] + [
                ModelSpec(depth=d, activation=model.activation, epochs=model.epochs) for d in (1, 2, 3)]
            for i, m in enumerate(models):
                c = cached_cell(spec, m, seeds)
                rows.append({"label": m.label, "bias": c["bias"], "bias_std": c["bias_std"]})
                bar.progress((i + 1) / len(models), text=f"{m.label}")
            bar.empty()
            st.plotly_chart(depth_figure(rows), key="lab_depth_chart")
