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
    assert "smoke" in at.selectbox[0].options[0] or any("smoke" in o for o in at.selectbox[0].options)
    labels = {w.label for w in [*at.number_input, *at.text_input, *at.selectbox, *at.checkbox]}
    for field in ["batch_size", "lr", "weight_decay", "steps", "warmup", "schedule", "eval_every", "seed", "dtype",
                  "temperature"]:
        assert field in labels, field
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

    def launch(run_dir, config, max_concurrent=2):
        calls.append((run_dir, config, max_concurrent))
        fake_run(run_dir.parent, run_dir.name, state="running")
        return 1

    monkeypatch.setattr(runs, "launch", launch)
    monkeypatch.setenv("SSL_LAB_MAX_TRAIN", "3")
    at = open_page("train")
    at.selectbox[0].set_value("smoke").run()
    at.text_input(key="name:smoke").input("first").run()
    at.number_input(key="smoke:simclr:steps").set_value(12).run()
    button(at, "Start").click().run()
    no_exception(at)
    (run_dir, config, cap), = calls
    assert run_dir == tmp_path / "runs" / "first" and cap == 3
    assert config.steps == 12 and config.method == "simclr"
    assert at.session_state["run"] == "first"


def test_bad_hyper_parameter_is_one_line(monkeypatch):
    at = open_page("train")
    at.selectbox[0].set_value("smoke").run()
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
    resumed = []
    monkeypatch.setattr(runs, "resume", lambda d, max_concurrent=2: resumed.append((d, max_concurrent)))
    at = open_page("train")
    assert button(at, "Stop").disabled
    assert len(at.get("download_button")) == 1
    button(at, "Resume").click().run()
    no_exception(at)
    assert resumed == [(tmp_path / "runs" / "r2", 2)]
