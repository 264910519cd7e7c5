"""The classroom rules of app/state.py: paths only inside the shared roots, with one answer that tells nothing
about the rest of the machine; the teacher key; identities that survive a reload."""

import json

from tests.app.conftest import button, errors, no_exception, open_page, tiny_checkpoint
from tests.app.test_train import fake_run


def refusals(at) -> list[str]:
    return [e for e in errors(at) if "not in a folder this server shares" in e]


def test_a_path_outside_the_roots_and_a_missing_one_get_the_same_line(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    tiny_checkpoint(shared / "ok.safetensors")
    monkeypatch.setenv("SSL_LAB_DATA_ROOTS", str(shared))
    lines = {}
    for text in ["/etc/passwd", "/no/such/file.safetensors", str(shared / ".." / "elsewhere.safetensors")]:
        at = open_page("checkpoints")
        at.radio[0].set_value("A path on this server").run()
        at.text_input[0].set_value(text).run()
        no_exception(at)
        [line] = refusals(at)
        lines[text] = line.replace(text, "PATH")
        assert "root:" not in " ".join(e.value for e in at.markdown)  # nothing of the file is shown
    assert len(set(lines.values())) == 1, lines
    at = open_page("checkpoints")
    at.radio[0].set_value("A path on this server").run()
    at.text_input[0].set_value(str(shared / "ok.safetensors")).run()
    no_exception(at)
    assert not errors(at) and button(at, "Use as current model")


def test_folders_outside_the_roots_are_refused_on_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_LAB_DATA_ROOTS", str(tmp_path / "shared"))
    at = open_page("data")
    at.selectbox[0].set_value(at.selectbox[0].options[-1]).run()  # the last choice: a folder
    [box] = [t for t in at.text_input if t.label == "Folder path"]
    box.set_value("/etc").run()
    no_exception(at)
    assert refusals(at)


def test_the_teacher_key_controls_every_run_and_shows_the_class(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_LAB_TEACHER_KEY", "s3cret")
    d = fake_run(tmp_path / "runs", "bos-run", state="stopped", ckpt=True)
    (d / "run.json").write_text(json.dumps({"kind": "ssl", "owner": "bo", "name": "bos-run"}))
    at = open_page("train", owner="ana")
    assert button(at, "Resume").disabled
    at = open_page("train", owner="ana", teacher_key="wrong")
    assert button(at, "Resume").disabled
    at = open_page("train", owner="ana", teacher_key="s3cret")
    no_exception(at)
    assert not button(at, "Resume").disabled and not button(at, "Delete").disabled
    assert any("owner" in df.value and "bo" in set(df.value["owner"]) for df in at.dataframe)


def test_the_name_survives_a_reload_through_the_url():
    at = open_page()
    at.text_input(key="owner_input").set_value("ana").run()
    assert at.query_params["me"] == ["ana"] or at.query_params["me"] == "ana"
    again = open_page()
    again.query_params["me"] = "ana"
    again.run()
    assert any("ana" in m.value for m in again.sidebar.markdown)
