"""Plotly figures of training curves. Plotly is imported inside the functions."""

# (metrics key, title, one sentence shown under the chart)
CURVES = [
    ("loss", "Loss", "What the method minimises. Its scale differs between methods; watch its trend."),
    ("lr", "Learning rate", "Warm-up, then the schedule you chose."),
    ("images_per_s", "Images per second", "Training speed of this process."),
    ("emb_std", "Embedding std", "Spread of the normalised embedding per dimension; near 0 means collapse "
                                 "(every image gets the same embedding)."),
    ("eff_rank", "Effective rank", "How many directions the embeddings really use; a falling rank is "
                                   "dimensional collapse."),
]
KNN = [
    ("knn_k200", "model, k=200", "solid"),
    ("knn_k20", "model, k=20", "dot"),
    ("knn_pixels_k200", "raw pixels (baseline)", "dash"),
    ("knn_random_k200", "random network (baseline)", "dashdot"),
]
KNN_NOTE = ("kNN accuracy on held-out images: does an image's nearest neighbour in feature space share "
            "its label? The model should beat both baselines drawn beside it.")


def _fig(title: str, height: int = 230):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=height,
                      margin=dict(l=10, r=10, t=35, b=10), showlegend=False, xaxis_title="step")
    return fig


def curve(metrics: list[dict], key: str, title: str):
    """One metric over steps."""
    import plotly.graph_objects as go

    rows = [m for m in metrics if m.get(key) is not None]
    fig = _fig(title)
    fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], mode="lines", name=key))
    if key == "lr":
        fig.update_yaxes(exponentformat="e")
    return fig


def knn(metrics: list[dict]):
    """kNN accuracy of the model beside its raw-pixel and random-network baselines."""
    import plotly.graph_objects as go

    fig = _fig("kNN accuracy")
    for key, name, dash in KNN:
        rows = [m for m in metrics if m.get(key) is not None]
        if rows:
            fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], name=name,
                                     mode="lines+markers", line=dict(dash=dash)))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.3, font=dict(size=10)), height=270)
    return fig


def overlay(series: dict[str, list[dict]], key: str, title: str):
    """The same metric for several runs: {run name: metrics}."""
    import plotly.graph_objects as go

    fig = _fig(title, height=320)
    for name, metrics in series.items():
        rows = [m for m in metrics if m.get(key) is not None]
        fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], name=name, mode="lines"))
    fig.update_layout(showlegend=True)
    return fig


def add_reference(fig, metrics: list[dict], key: str, name: str):
    """A baseline drawn beside a curve: `key`'s values as a dashed grey line."""
    import plotly.graph_objects as go

    rows = [m for m in metrics if m.get(key) is not None]
    if rows:
        fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], mode="lines", name=name,
                                 line=dict(dash="dash", color="grey")))
        fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.3, font=dict(size=11)))
    return fig
