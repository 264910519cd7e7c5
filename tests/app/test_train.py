import json
import os
import time

from tests.app.conftest import button, errors, no_exception, open_page, tiny_checkpoint


def fake_run(root, name, state="finished", steps=20, message="", knn=True, ckpt=False):
    """A run folder written the way the trainer writes one."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"method": "simclr", "data": "shapes", "steps": steps}))
    rows = []
    for s in range(2, steps + 1, 2):
        row = dict(step=s, epoch=0, time=s * 0.5, loss=4 - s / 10, lr=1e-3, images_per_s=100.0, emb_std=0.05,
                   eff_rank=10.0)
        if knn and s % 10 == 0:
            row.update(knn_k20=0.5, knn_k200=0.4 + s / 100, knn_pixels_k200=0.3, knn_random_k200=0.2)
        rows.append(row)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pid = os.getpid() if state in ("queued", "running") else None  # a live process, as the engine checks
    (d / "status.json").write_text(json.dumps(dict(state=state, message=message, pid=pid, step=steps,
                                                   total_steps=steps, progress=1.0, eta_s=0, started=time.time(),
                                                   updated=time.time())))
    if ckpt:
        tiny_checkpoint(d / "checkpoints" / f"step_{steps:07d}.safetensors", step=steps)
    return d


def test_presets_and_all_hyper_parameters():
    at = open_page("train")
    no_exception(at)
    assert not any("smoke" in o for o in at.selectbox[0].options)  # the tests' preset is not offered to a class
    labels = {w.label for w in [*at.number_input, *at.text_input, *at.selectbox, *at.checkbox]}
    for field in ["batch_size", "lr", "weight_decay", "minutes", "warmup", "schedule", "eval_every", "seed", "dtype",
                  "temperature"]:
        assert field in labels, field
    assert [r.label for r in at.radio if r.label == "Budget in"]  # minutes, steps or epochs: one at a time
    assert "No runs yet" in at.info[0].value


def test_preset_from_query_param():
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params["preset"] = "dino-shapes"
    at.run()
    at.switch_page("app/pages/train.py").run()
    assert at.selectbox[0].value == "dino-shapes"


def test_start_launches_through_the_engine(tmp_path, monkeypatch):
    from ssl_core import runs

    calls = []

    def launch(run_dir, config, owner="", max_concurrent=2, preset=None):
        calls.append((run_dir, config, max_concurrent))
        fake_run(run_dir.parent, run_dir.name, state="running")
        return 1

    monkeypatch.setattr(runs, "launch", launch)
    monkeypatch.setenv("SSL_LAB_MAX_TRAIN", "3")
    at = open_page("train", timeout=60)
    at.query_params["preset"] = "smoke"
    at.run()
    at.text_input(key="name:smoke").input("first").run()
    at.number_input(key="smoke:simclr:steps").set_value(12).run()  # the smoke preset's budget is in steps
    button(at, "Start").click().run()
    no_exception(at)
    (run_dir, config, cap), = calls
    assert run_dir == tmp_path / "runs" / "first" and cap == 3
    assert config.steps == 12 and config.method == "simclr"
    assert at.session_state["run"] == "first"


def test_bad_hyper_parameter_is_one_line(monkeypatch):
    at = open_page("train")
    at.query_params["preset"] = "smoke"
    at.run()
    at.number_input(key="smoke:simclr:lr").set_value(-1.0).run()
    button(at, "Start").click().run()
    no_exception(at)
    assert len(errors(at)) == 1 and "learning rate" in errors(at)[0]


def test_run_list_curves_and_failed_run(tmp_path):
    root = tmp_path / "runs"
    fake_run(root, "good", ckpt=True)
    fake_run(root, "bad", state="diverged", message="training diverged at step 8 (loss = nan); more\nsecond line")
    at = open_page("train")
    no_exception(at)
    at.selectbox(key="run").set_value("bad").run()
    assert errors(at) == ["diverged: training diverged at step 8 (loss = nan); more"]
    at.selectbox(key="run").set_value("good").run()
    assert not errors(at)
    assert len(at.get("plotly_chart")) >= 6 + 1  # five curves, kNN, overlay
    table = at.dataframe[0].value
    assert set(table["run"]) == {"good", "bad"} and table.set_index("run").loc["good", "best"] == 0.6
    button(at, "Use as current model").click().run()
    assert at.session_state["current_model"].endswith("step_0000020.safetensors")


def test_stop_and_resume_call_the_engine(tmp_path, monkeypatch):
    from ssl_core import runs

    fake_run(tmp_path / "runs", "r1", state="running")
    stopped = []
    monkeypatch.setattr(runs, "read_status", lambda d: json.loads((d / "status.json").read_text()))
    monkeypatch.setattr(runs, "stop", lambda d: stopped.append(d))
    at = open_page("train")
    button(at, "Stop").click().run()
    no_exception(at)
    assert stopped == [tmp_path / "runs" / "r1"]
    assert button(at, "Resume").disabled


def test_bad_run_name_and_queued_run(tmp_path):
    fake_run(tmp_path / "runs", "waiting", state="queued")
    at = open_page("train")
    no_exception(at)
    assert any(i.value.startswith("Queued") for i in at.info)
    at.text_input(key=f"name:{at.selectbox[0].value}").input("a/b").run()
    button(at, "Start").click().run()
    assert len(errors(at)) == 1 and "without slashes" in errors(at)[0]


def test_resume_and_download_a_stopped_run(tmp_path, monkeypatch):
    from ssl_core import runs

    fake_run(tmp_path / "runs", "r2", state="stopped", ckpt=True)
    monkeypatch.setenv("SSL_LAB_MAX_TRAIN", "2")
    resumed = []
    monkeypatch.setattr(runs, "resume", lambda d, max_concurrent=2: resumed.append((d, max_concurrent)))
    at = open_page("train")
    assert button(at, "Stop").disabled
    assert len(at.get("download_button")) == 1
    button(at, "Resume").click().run()
    no_exception(at)
    assert resumed == [(tmp_path / "runs" / "r2", 2)]


def test_the_budget_switches_from_minutes_to_steps(tmp_path, monkeypatch):
    from ssl_core import runs

    calls = []
    monkeypatch.setattr(runs, "launch", lambda run_dir, config, **kw: calls.append(config) or 1)
    at = open_page("train")
    preset = at.selectbox[0].value
    assert at.radio(key=f"{preset}:simclr:budget").value == "minutes"
    at.radio(key=f"{preset}:simclr:budget").set_value("steps").run()
    at.number_input(key=f"{preset}:simclr:steps").set_value(40).run()
    button(at, "Start").click().run()
    no_exception(at)
    assert calls[0].steps == 40 and calls[0].minutes is None and calls[0].epochs is None


def test_only_the_owner_controls_a_run(tmp_path):
    import json as _json

    d = fake_run(tmp_path / "runs", "theirs", state="stopped", ckpt=True)
    (d / "run.json").write_text(_json.dumps({"kind": "ssl", "owner": "bo", "name": "theirs"}))
    at = open_page("train", owner="ana")
    no_exception(at)
    assert button(at, "Resume").disabled and button(at, "Delete").disabled
    assert not at.get("download_button")  # someone else's checkpoint is not downloadable
    at = open_page("train", owner="bo")
    assert not button(at, "Delete").disabled
    button(at, "Delete").click().run()
    no_exception(at)
    assert not d.exists()


def test_a_collapse_run_is_drawn_beside_its_guarded_twin_from_zero(tmp_path):
    """Issue 14 item 9: one chart, both runs, an axis from zero, so a fall shows as what it is."""
    root = tmp_path / "runs"
    for name, preset in (("lazy", "byol-collapse"), ("guarded", "byol-collapse-guarded")):
        d = fake_run(root, name)
        (d / "run.json").write_text(json.dumps({"kind": "ssl", "owner": "", "preset": preset}))
    at = open_page("train")
    at.selectbox(key="run").set_value("lazy").run()
    no_exception(at)
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "std" in json.loads(c.proto.spec)["layout"]["title"]["text"].lower())
    assert [t["name"] for t in spec["data"]] == ["lazy", "guarded (guarded)"]
    assert spec["layout"]["yaxis"]["rangemode"] == "tozero"


def test_a_diverged_run_offers_a_restart_with_a_tenth_of_the_learning_rate(tmp_path):
    """Issue 14 item 4: say what is true of a diverged run, and offer what helps."""
    root = tmp_path / "runs"
    d = fake_run(root, "bad", state="diverged",
                 message="training diverged at step 2 (loss = nan); no checkpoint was saved before it: start again "
                         "with a lower learning rate")
    (d / "config.json").write_text(json.dumps({"method": "simclr", "data": "shapes", "steps": 20, "lr": 0.01}))
    at = open_page("train")
    at.selectbox(key="run").set_value("bad").run()
    no_exception(at)
    assert "no checkpoint was saved" in errors(at)[0]
    assert any(b.label == "Start again with learning rate 0.001" for b in at.button)
