"""Runs as folders, launched in their own processes: start, watch, stop, queue, failure reporting."""

import json
import time
from pathlib import Path

import pytest

from ssl_core.errors import UserError
from ssl_core import runs
from ssl_core.train.config import TrainConfig


def tiny(**kw) -> TrainConfig:
    base = dict(method="simclr", data="shapes:n=256", backbone="vit:dim=32,depth=1,heads=2,patch=8", batch_size=32,
                eval_every=0, log_every=1, ckpt_every=1000)
    return TrainConfig(**{**base, **kw})


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_launch_watch_stop_resume(tmp_path):
    run = tmp_path / "runs" / "a"
    runs.launch(run, tiny(minutes=10), owner="ana")
    wait_for(lambda: len(runs.read_metrics(run)) >= 2, what="metrics lines")
    assert runs.read_status(run)["state"] == "running"
    runs.stop(run)
    wait_for(lambda: runs.read_status(run)["state"] == "stopped", what="stopped state")
    assert runs.latest_checkpoint(run) is not None
    [info] = runs.list_runs(tmp_path / "runs")
    assert info.name == "a" and info.config["method"] == "simclr" and info.status["state"] == "stopped"
    assert info.kind == "ssl" and info.owner == "ana"
    with pytest.raises(UserError, match="already holds a run"):
        runs.launch(run, tiny(steps=3))
    step = runs.read_status(run)["step"]
    runs.resume(run)
    wait_for(lambda: runs.read_status(run).get("step", 0) > step, what="progress after resume")
    runs.stop(run)
    wait_for(lambda: runs.read_status(run)["state"] == "stopped", what="stopped again")


def test_queue_caps_concurrent_runs(tmp_path):
    root = tmp_path / "runs"
    runs.launch(root / "first", tiny(minutes=10), max_concurrent=1)
    wait_for(lambda: runs.read_status(root / "first")["state"] == "running", what="first running")
    runs.launch(root / "second", tiny(steps=2), max_concurrent=1)
    wait_for(lambda: runs.read_status(root / "second")["state"] == "queued"
             and runs.read_status(root / "second")["pid"], what="second queued")
    time.sleep(1.5)  # the queued run polls once a second; it must still be waiting
    assert runs.read_status(root / "second")["state"] == "queued"
    runs.stop(root / "first")
    wait_for(lambda: runs.read_status(root / "second")["state"] == "finished", what="second finished")


def test_failed_run_reports_one_line(tmp_path):
    run = tmp_path / "runs" / "bad"
    runs.launch(run, tiny(data=str(tmp_path / "missing"), steps=2))
    status = wait_for(lambda: (s := runs.read_status(run))["state"] == "failed" and s, what="failure")
    assert str(tmp_path / "missing") in status["message"] and "\n" not in status["message"]


def test_metrics_reader_tolerates_a_half_written_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1}) + "\n" + '{"step": 2, "lo')
    assert runs.read_metrics(tmp_path) == [{"step": 1}]
    runs.RunWriter(tmp_path).truncate_metrics(0)
    assert runs.read_metrics(tmp_path) == []


def test_runs_have_kinds_and_owners_and_a_refused_config_leaves_nothing(tmp_path):
    root = tmp_path / "runs"
    runs.create(root / "c", "classifier", tiny(method="supervised", steps=2), owner="bo")
    runs.create(root / "s", "ssl", tiny(steps=2), owner="ana")
    assert [r.name for r in runs.list_runs(root, kind="classifier")] == ["c"]
    assert [r.name for r in runs.list_runs(root, owner="ana")] == ["s"]
    with pytest.raises(UserError, match="learning rate"):
        runs.create(root / "bad", "ssl", tiny(lr=-1.0, steps=2))
    assert not (root / "bad").exists()
    with pytest.raises(UserError, match="unknown run kind"):
        runs.create(root / "x", "gan", tiny(steps=2))
    # the method's hyper-parameters are refused here too, before a run (and its data) exists
    for args, message in (({"temperature": -1.0}, "temperature"), ({"tau": 0.1}, "has no parameter tau"),
                          ({"view_scale": 0.5}, "needs a ConvNet")):
        with pytest.raises(UserError, match=message):
            runs.create(root / "bad", "ssl", tiny(steps=2, method_args=args))
        assert not (root / "bad").exists()
    with pytest.raises(UserError, match="needs a ViT"):
        runs.create(root / "bad", "ssl", tiny(method="mae", backbone="cnn", steps=2))


def test_a_finished_run_leaves_no_zombie_and_no_temporary_files(tmp_path):
    run = tmp_path / "runs" / "z"
    pid = runs.launch(run, tiny(steps=2, ckpt_every=1))
    wait_for(lambda: runs.read_status(run)["state"] == "finished", what="finished")
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10, what="the process reaped, not a zombie")
    assert not list((run / "checkpoints").glob(".*"))


def test_a_stop_request_is_a_file_any_machine_can_write(tmp_path):
    run = tmp_path / "runs" / "f"
    runs.launch(run, tiny(minutes=10))
    wait_for(lambda: len(runs.read_metrics(run)) >= 2, what="metrics lines")
    (run / runs.STOP).touch()  # as `stop` on another machine that sees the folder would
    wait_for(lambda: runs.read_status(run)["state"] == "stopped", what="stopped by the file")
    assert not (run / runs.STOP).exists(), "the request ends with the run: a later resume must not stop at once"


@pytest.fixture
def submitit_engine(monkeypatch):
    monkeypatch.setenv("SSL_LAB_ENGINE", "submitit")
    monkeypatch.setenv("SSL_LAB_SUBMITIT_CLUSTER", "local")


def test_the_submitit_engine_runs_watches_stops_and_resumes(tmp_path, submitit_engine):
    run = tmp_path / "runs" / "j"
    job_id = runs.launch(run, tiny(minutes=10), owner="ana")
    assert runs.read_status(run)["job_id"] == job_id
    wait_for(lambda: len(runs.read_metrics(run)) >= 2, what="metrics lines from the job")
    assert runs.read_status(run)["state"] == "running"
    runs.stop(run)
    wait_for(lambda: runs.read_status(run)["state"] == "stopped", what="the job stopped")
    step = runs.read_status(run)["step"]
    assert runs.latest_checkpoint(run) is not None and runs.list_runs(tmp_path / "runs")[0].owner == "ana"
    runs.resume(run)
    wait_for(lambda: runs.read_status(run).get("step", 0) > step, what="progress after resume")
    runs.stop(run, wait=60)
    assert runs.read_status(run)["state"] == "stopped"
    assert [r["step"] for r in runs.read_metrics(run) if "loss" in r] == sorted(
        r["step"] for r in runs.read_metrics(run) if "loss" in r), "metrics continue where the checkpoint was"


def test_a_two_task_job_trains_as_torchrun_would(tmp_path, submitit_engine, monkeypatch):
    monkeypatch.setenv("SSL_LAB_SUBMITIT", json.dumps({"tasks_per_node": 2}))
    run = tmp_path / "runs" / "two"
    runs.launch(run, tiny(steps=3))
    status = wait_for(lambda: (s := runs.read_status(run))["state"] not in runs.ACTIVE and s, timeout=300,
                      what="the job's end")
    assert status["state"] == "finished" and status["processes"] == 2, status
