"""Train: start, watch, stop and compare training runs. Each run trains in its own process."""

from datetime import datetime

import streamlit as st

from app import charts, state
from app.config_form import config_form
from app.ui import duration, user_errors

from ssl_core.methods import METHODS  # noqa: E402  (torch is fine here: not the first page)
from ssl_core import runs
from ssl_core.train.presets import PRESETS

st.title("Train")
st.caption("Pick a preset, press Start, and watch the model learn. Training runs in its own process, "
           "so you can switch pages, reload or close the tab; the run keeps going.")

root = state.runs_root()

# ---- a new run ------------------------------------------------------------------------------------
st.header("New run")
names = list(PRESETS)
asked = st.query_params.get("preset")
first = next((n for n in names if PRESETS[n].get("lesson")), names[0])  # a lesson preset, not the smoke test
preset = st.selectbox("Preset", names, index=names.index(asked if asked in names else first),
                      format_func=lambda n: f"{n}: {PRESETS[n]['description']}")
config = PRESETS[preset]["config"]
budget = next((f"{v} {k}" for k in ("minutes", "epochs", "steps") if (v := getattr(config, k)) is not None), "")
lesson = PRESETS[preset].get("lesson")
st.caption("A preset is a tested recipe: method, data, network and budget. "
           f"This one: {config.method} on `{config.data}` with a {config.backbone} backbone, {budget}."
           + (f" Lesson: {lesson}." if lesson else ""))

with st.expander("All hyper-parameters"):
    methods = list(METHODS)
    method = st.selectbox("method", methods, index=methods.index(config.method) if config.method in methods else 0,
                          key=f"{preset}:method")
    st.caption(f"{METHODS[method].description} ({METHODS[method].paper})")
    if method != config.method:
        config = type(config)(**{**config.__dict__, "method": method, "method_args": {}})
    config = config_form(config, key=f"{preset}:{method}")

default_name = f"{preset}-{datetime.now():%m%d-%H%M%S}"
name = st.text_input("Run name", value=default_name, key=f"name:{preset}")
st.caption(f"The run's folder under `{root}`. At most {state.max_train()} runs train at once on this "
           "server; later ones wait in a queue.")
if st.button("Start", type="primary", icon=":material/play_arrow:"):
    name = name.strip()
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        st.error("Give the run a name without slashes, for example `dino-try-2`.")
    else:
        with user_errors():
            runs.launch(root / name, config, max_concurrent=state.max_train())
            st.session_state["run"] = name

# ---- the selected run -----------------------------------------------------------------------------
all_runs = runs.list_runs(root) if root.exists() else []
if not all_runs:
    st.info("No runs yet: start one above.")
    st.stop()

st.header("Run")
run_names = [r.name for r in all_runs]
if st.session_state.get("run") not in run_names:
    st.session_state["run"] = run_names[0]
current = st.selectbox("Run to watch", run_names, key="run")
run_dir = root / current


def describe(status: dict) -> str:
    s = status.get("state", "unknown")
    if s in ("queued", "running") and status.get("eta_s") is not None:
        return f"{s}, about {duration(status['eta_s'])} left"
    return s


@st.fragment(run_every=2.0 if runs.read_status(run_dir).get("state") in runs.ACTIVE else None)
def live():
    status = runs.read_status(run_dir)
    metrics = runs.read_metrics(run_dir)
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    st.progress(min(1.0, float(status.get("progress") or 0.0)),
                text=f"Step {step} of {total or '?'} · {describe(status)}")
    if status.get("state") in ("failed", "diverged"):
        st.error(f"{status['state']}: {(status.get('message') or 'no message').splitlines()[0]}")
    elif status.get("state") == "queued":
        st.info(f"Queued: waiting for one of the {state.max_train()} training slots on this server.")
    cols = st.columns(3)
    for i, (key, title, note) in enumerate(charts.CURVES):
        with cols[i % 3]:
            st.plotly_chart(charts.curve(metrics, key, title), key=f"curve:{key}")
            st.caption(note)
    with cols[2]:
        st.plotly_chart(charts.knn(metrics), key="curve:knn")
        st.caption(charts.KNN_NOTE)
    if st.session_state.get("live_was_active") and status.get("state") not in runs.ACTIVE:
        st.session_state["live_was_active"] = False
        st.rerun()  # the run ended: redraw the whole page once, without the timer
    st.session_state["live_was_active"] = status.get("state") in runs.ACTIVE


live()

status = runs.read_status(run_dir)
cols = st.columns(4)
if cols[0].button("Stop", icon=":material/stop:", disabled=status.get("state") not in runs.ACTIVE):
    runs.stop(run_dir)
    st.toast(f"Asked {current} to stop; it saves a checkpoint first.")
if cols[1].button("Resume", icon=":material/replay:", disabled=status.get("state") in runs.ACTIVE):
    with user_errors():
        runs.resume(run_dir, max_concurrent=state.max_train())
        st.rerun()
ckpt = runs.latest_checkpoint(run_dir)
if ckpt is not None:
    cols[2].download_button("Download checkpoint", data=ckpt.read_bytes, file_name=f"{current}-{ckpt.name}",
                            icon=":material/download:", mime="application/octet-stream")
    if cols[3].button("Use as current model", icon=":material/check:"):
        state.set_model(ckpt)
        st.rerun()
st.caption("Stop saves a checkpoint and ends the process; Resume continues from the last checkpoint. "
           "The current model is what Look, Map, Probe and Dictionary analyse.")

# ---- all runs ------------------------------------------------------------------------------------
st.header("All runs")
st.dataframe(
    [
        {
            "run": r.name,
            "kind": r.kind,
            "owner": r.owner,
            "status": r.status.get("state", "?"),
            "method": r.config.get("method", "?"),
            "data": r.config.get("data", "?"),
            "step": r.last.get("step", 0),
            "duration": duration(r.duration_s),
            "best": None if r.best is None else round(r.best, 3),
        }
        for r in all_runs
    ],
    hide_index=True,
)
picked = st.multiselect("Compare runs", run_names, default=run_names[:2])
metric = st.selectbox("Curve", [k for k, _, _ in charts.CURVES] + ["knn_k200"])
st.caption("Overlay one curve of several runs, for example two temperatures or two methods on the same data.")
if picked:
    st.plotly_chart(charts.overlay({n: runs.read_metrics(root / n) for n in picked}, metric, metric),
                    key="overlay")
