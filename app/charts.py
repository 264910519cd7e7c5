"""Plotly figures of training curves, and `readable`, which every chart of the app goes through. Plotly is
imported inside the functions."""

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
COLLAPSE = ("emb_std", "eff_rank")  # drawn from zero, beside the guarded twin: a fall shows as what it is
KNN = [
    ("knn_k200", "model, k=200", "solid"),
    ("knn_k20", "model, k=20", "dot"),
    ("knn_pixels_k200", "raw pixels (baseline)", "dash"),
    ("knn_random_k200", "random network (baseline)", "dashdot"),
]
FONT, TITLE, LINE = 15, 18, 3  # px: readable from the back of a room on a projector
KNN_NOTE = ("kNN accuracy on held-out images: does an image's nearest neighbour in feature space share "
            "its label? The model should beat both baselines drawn beside it.")


def readable(fig):
    """Fonts and line widths that read on a classroom projector (one rule for every chart of the app)."""
    fig.update_layout(font=dict(size=FONT), title_font=dict(size=TITLE), legend_font=dict(size=FONT - 1))
    fig.update_traces(selector=dict(type="scatter"), line_width=LINE)
    return fig


def _fig(title: str, height: int = 230):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=dict(text=title), height=height,
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
    return readable(fig)


def knn(metrics: list[dict]):
    """kNN accuracy of the model beside its raw-pixel and random-network baselines."""
    import plotly.graph_objects as go

    fig = _fig("kNN accuracy")
    for key, name, dash in KNN:
        rows = [m for m in metrics if m.get(key) is not None]
        if rows:
            fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], name=name,
                                     mode="lines+markers", line=dict(dash=dash)))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.35), height=290)
    return readable(fig)


def overlay(series: dict[str, list[dict]], key: str, title: str):
    """The same metric for several runs: {run name: metrics}."""
    import plotly.graph_objects as go

    fig = _fig(title, height=320)
    for name, metrics in series.items():
        rows = [m for m in metrics if m.get(key) is not None]
        fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], name=name, mode="lines"))
    fig.update_layout(showlegend=True)
    return readable(fig)


def add_reference(fig, metrics: list[dict], key: str, name: str):
    """A baseline drawn beside a curve: `key`'s values as a dashed grey line."""
    import plotly.graph_objects as go

    rows = [m for m in metrics if m.get(key) is not None]
    if rows:
        fig.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m[key] for m in rows], mode="lines", name=name,
                                 line=dict(dash="dash", color="grey")))
        fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.35))
    return readable(fig)


def collapse(series: dict[str, list[dict]], key: str, title: str):
    """A collapse indicator of one run and, where there is one, its guarded twin, on an axis from zero."""
    fig = overlay(series, key, title)
    fig.update_layout(height=250, margin=dict(l=10, r=10, t=40, b=10), showlegend=len(series) > 1,
                      legend=dict(orientation="h", y=-0.4))
    fig.update_yaxes(rangemode="tozero")
    return fig


def _baselines(table: dict) -> list[tuple[str, float, str]]:
    """The equal-budget table's baselines, measured by the same rule: (name, kNN, line style)."""
    rows = table["rows"]
    randoms = {r["backbone"]: r["random_k200"] for r in rows}  # each backbone has its own random-init twin
    found = [("raw pixels", rows[0]["pixels_k200"], "dash"),
             *((f"random-init {b}", v, "dashdot") for b, v in sorted(randoms.items())),
             ("k-means features, no backprop", table.get("kmeans_k200"), "dot")]
    return [b for b in found if b[1] is not None]


def methods_summary(table: dict) -> str:
    """The equal-budget table in one line: the best method, and the baselines beside it."""
    best = max(table["rows"], key=lambda r: r["knn_k200"])
    return (f"Best of {len(table['rows'])} methods ({table['budget']}): **{best['name']} ({best['backbone']}) "
            f"{best['knn_k200']:.3f}** kNN top-1; beside it " +
            ", ".join(f"{name} {value:.3f}" for name, value, _ in _baselines(table)) + ".")


def methods_compared(table: dict):
    """The equal-budget table (bench/quality.py --lesson): kNN accuracy per method as bars, with the baselines
    measured by the same rule as lines across them."""
    import plotly.graph_objects as go

    rows = sorted(table["rows"], key=lambda r: r["knn_k200"])
    labels = [f"{r['name']} ({r['backbone']})" for r in rows]
    fig = go.Figure(go.Bar(x=[r["knn_k200"] for r in rows], y=labels, orientation="h", name="after training",
                           text=[f"{r['knn_k200']:.3f}" for r in rows], textposition="outside",
                           hovertext=[f"{r['steps']} steps, {r['images_per_s']:.0f} images/s" for r in rows]))
    baselines = _baselines(table)
    for name, value, dash in baselines:
        fig.add_trace(go.Scatter(x=[value, value], y=[labels[0], labels[-1]], mode="lines",
                                 name=f"{name}: {value:.3f}", line=dict(dash=dash, color="grey")))
    fig.update_layout(title=dict(text=f"kNN accuracy on CIFAR-10 after {table['budget']}"),
                      height=140 + 34 * len(rows), margin=dict(l=10, r=10, t=45, b=10), xaxis_title="kNN top-1",
                      xaxis_range=[0, 1.12 * max([r["knn_k200"] for r in rows] + [v for _, v, _ in baselines])],
                      legend=dict(orientation="h", y=-0.2))
    return readable(fig)
