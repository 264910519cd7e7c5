"""Train: start, watch, stop and compare training runs. Each run trains in its own process, carries the name
of who started it, and waits in the server's queue when every training slot is busy."""

from datetime import datetime

import streamlit as st

from app import charts, state
from app.config_form import config_form
from app.ui import attempt, duration, rerun_when_ended, user_errors
from ssl_core import runs
from ssl_core.methods import METHODS
from ssl_core.train.config import TrainConfig
from ssl_core.train.presets import PRESETS

st.title("Train")
st.caption("Pick a preset, press Start, and watch the model learn. Training runs in its own process, "
           "so you can switch pages, reload or close the tab; the run keeps going.")

root = state.runs_root()
all_runs = runs.list_runs(root) if root.exists() else []
mine = [r for r in all_runs if r.owner == state.owner() and r.preset]

# ---- a new run ------------------------------------------------------------------------------------
st.header("New run")
asked = st.query_params.get("preset")
names = [n for n in PRESETS if not PRESETS[n].get("hidden") or n == asked]  # the tests' smoke preset stays hidden
live = next((r.preset for r in mine if r.status.get("state") in runs.ACTIVE and r.preset in names), None)
first = asked if asked in names else live or next(n for n in names if PRESETS[n].get("lesson"))
preset = st.selectbox("Preset", names, index=names.index(first),
                      format_func=lambda n: f"{n}: {PRESETS[n]['description']}")
st.query_params["preset"] = preset  # a reload keeps the lesson that is being trained
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

name = st.text_input("Run name", value=f"{preset}-{datetime.now():%m%d-%H%M%S}", key=f"name:{preset}")
st.caption(f"The run's folder under `{root}`. At most {state.max_train()} run(s) train at once on this server; "
           "later ones wait in a queue, which says each run's place.")


def start(run_name: str, cfg, preset_name: str | None) -> None:
    run_name = run_name.strip()
    if not run_name or run_name.startswith(".") or "/" in run_name or "\\" in run_name:
        st.error("Give the run a name without slashes, for example `dino-try-2`.")
        return
    with user_errors():
        runs.launch(root / run_name, cfg, owner=state.owner(), max_concurrent=state.max_train(), preset=preset_name)
        st.session_state["run"] = run_name


if st.button("Start", type="primary", icon=":material/play_arrow:"):
    start(name, config, preset)
    all_runs = runs.list_runs(root)

# ---- the selected run -----------------------------------------------------------------------------
if not all_runs:
    st.info("No runs yet: start one above.")
    st.stop()

st.header("Run")
run_names = [r.name for r in all_runs]
if st.session_state.get("run") not in run_names:
    st.session_state["run"] = st.query_params.get("run") if st.query_params.get("run") in run_names else run_names[0]
current = st.selectbox("Run to watch", run_names, key="run",
                       format_func=lambda n: f"{n} ({r.owner})" if (r := next(x for x in all_runs if x.name == n)).owner
                       else n)
st.query_params["run"] = current
run_dir = root / current
info = next(r for r in all_runs if r.name == current)


def describe(status: dict) -> str:
    s = status.get("state", "unknown")
    if s in runs.ACTIVE and status.get("eta_s") is not None:
        return f"{s}, about {duration(status['eta_s'])} left"
    return s


def twin_metrics() -> tuple[str, list[dict]] | None:
    """The twin of a collapse preset (guard on or off): its newest run, this user's first, to draw beside this one."""
    twin = PRESETS.get(info.preset or "", {}).get("twin")
    others = sorted((r for r in all_runs if twin and r.preset == twin), key=lambda r: r.owner != state.owner())
    if not others:
        return None
    what = "guard off" if "guard" in PRESETS[twin] else "guarded"
    return f"{others[0].name} ({what})", runs.read_metrics(others[0].path)


@st.fragment(run_every=2.0 if runs.read_status(run_dir).get("state") in runs.ACTIVE else None)
def live():
    status = runs.read_status(run_dir)
    metrics = runs.read_metrics(run_dir)
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    st.progress(min(1.0, float(status.get("progress") or 0.0)), text=f"Step {step} of {total or '?'} · {describe(status)}")
    if status.get("state") in ("failed", "diverged"):
        st.error(f"{status['state']}: {(status.get('message') or 'no message').splitlines()[0]}")
    elif status.get("state") == "queued":
        q = runs.queue_place(root, run_dir, state.max_train())
        wait = f"about {duration(q['wait_s'])}" if q["wait_s"] is not None else "unknown (runs ahead have step budgets)"
        st.info(f"Queued: place {q['place']} in line, {q['training']} run(s) training on {state.max_train()} slot(s); "
                f"estimated wait {wait}.")
    twin = twin_metrics()
    cols = st.columns(3)
    for i, (key, title, note) in enumerate(charts.CURVES):
        with cols[i % 3]:
            series = {current: metrics, **dict([twin] if twin else [])}
            st.plotly_chart(charts.collapse(series, key, title) if key in charts.COLLAPSE else
                            charts.curve(metrics, key, title), key=f"curve:{key}")
            st.caption(note)
    with cols[2]:
        st.plotly_chart(charts.knn(metrics), key="curve:knn")
        st.caption(charts.KNN_NOTE)
    if any("teacher_entropy" in m for m in metrics):
        st.plotly_chart(charts.collapse({current: metrics, **dict([twin] if twin else [])}, "teacher_entropy",
                                        "DINO teacher entropy"), key="curve:entropy")
        st.caption("Entropy of the teacher's output distribution: near 0 every image gets one prototype (collapse to "
                   "a point), near log K the output is uniform (the other collapse); centring and sharpening hold it "
                   "between.")
    rerun_when_ended("train_live_active", status.get("state") in runs.ACTIVE)


live()

status = runs.read_status(run_dir)
allowed = state.may_control(run_dir)
if status.get("state") == "diverged" and allowed:
    lower = attempt(TrainConfig.from_json, (run_dir / "config.json").read_text())
    if lower is not None:
        lower.lr /= 10
        if st.button(f"Start again with learning rate {lower.lr:g}", icon=":material/restart_alt:"):
            start(f"{current}-lr{lower.lr:g}", lower, info.preset)
            st.rerun()
cols = st.columns(5)
if cols[0].button("Stop", icon=":material/stop:", disabled=status.get("state") not in runs.ACTIVE or not allowed):
    with user_errors():
        state.check_may_control(run_dir)
        runs.stop(run_dir)
        st.toast(f"Asked {current} to stop; it saves a checkpoint first.")
if cols[1].button("Resume", icon=":material/replay:", disabled=status.get("state") in runs.ACTIVE or not allowed):
    with user_errors():
        state.check_may_control(run_dir)
        runs.resume(run_dir, max_concurrent=state.max_train())
        st.rerun()
ckpt = runs.latest_checkpoint(run_dir)
if ckpt is not None and allowed:
    cols[2].download_button("Download checkpoint", data=ckpt.read_bytes, file_name=f"{current}-{ckpt.name}",
                            icon=":material/download:", mime="application/octet-stream")
if ckpt is not None and info.kind in ("ssl", "classifier") and cols[3].button("Use as current model",
                                                                              icon=":material/check:"):
    state.set_model(ckpt)
    st.rerun()
if cols[4].button("Delete", icon=":material/delete:", disabled=status.get("state") in runs.ACTIVE or not allowed):
    with user_errors():
        state.check_may_control(run_dir)
        runs.delete(run_dir)
        st.session_state.pop("run", None)
        st.rerun()
st.caption("Stop saves a checkpoint and ends the process; Resume continues from the last checkpoint. Only the run's "
           "owner (or the teacher) can stop, resume, download or delete it. The current model is what Look, Map, "
           "Probe and Dictionary analyse.")

# ---- the class ------------------------------------------------------------------------------------
st.header("All runs")
st.dataframe(
    [{"run": r.name, "owner": r.owner, "kind": r.kind, "preset": r.preset or "", "status": r.status.get("state", "?"),
      "method": r.config.get("method", "?"), "data": r.config.get("data", "?"), "step": r.last.get("step", 0),
      "loss": round(r.last["loss"], 4) if isinstance(r.last.get("loss"), float) else None,
      "duration": duration(r.duration_s), "best": None if r.best is None else round(r.best, 3)} for r in all_runs],
    hide_index=True,
)
st.caption("Best: the best evaluation so far (kNN for self-supervised runs, test accuracy for classifiers, explained "
           "variance for dictionaries).")
presets_run = sorted({r.preset for r in all_runs if r.preset})
if presets_run:
    c1, c2 = st.columns(2)
    compare_preset = c1.selectbox("Compare the class's runs of a preset", presets_run, key="class_preset")
    metric = c2.selectbox("Curve", [k for k, _, _ in charts.CURVES] + ["knn_k200"], key="class_metric")
    picked = {f"{r.name} ({r.owner or 'no owner'})": runs.read_metrics(r.path) for r in all_runs
              if r.preset == compare_preset}
    st.plotly_chart(charts.overlay(picked, metric, f"{metric}: every run of {compare_preset}"), key="class_overlay")
    st.caption("Every run of one preset, one line each: how far apart do the same recipe's runs end?")
picked = st.multiselect("Compare runs", run_names, default=run_names[:2])
metric = st.selectbox("Curve ", [k for k, _, _ in charts.CURVES] + ["knn_k200"])
st.caption("Overlay one curve of several runs, for example two temperatures or two methods on the same data.")
if picked:
    st.plotly_chart(charts.overlay({n: runs.read_metrics(root / n) for n in picked}, metric, metric), key="overlay")
