"""The Dictionary page in AppTest: train (a real SAE run starts), browse (a card, a clicked patch, steering),
compare with the supervised dictionaries, and the lesson link."""

import shutil
import subprocess
import sys

import pytest

from ssl_core import runs
from ssl_core.train.config import TrainConfig
from tests.app.conftest import button, no_exception, open_page, tiny_checkpoint


@pytest.fixture(scope="module")
def sae_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dict")
    ckpt = tiny_checkpoint(tmp / "m.safetensors")
    out = subprocess.run([sys.executable, "-m", "ssl_core", "sae", "train", "--checkpoint", str(ckpt), "--data",
                          "shapes:n=200", "--expansion", "4", "--k", "8", "--steps", "30", "--batch-size", "512",
                          "--out", str(tmp / "sae.safetensors")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return ckpt, tmp / "sae.safetensors"


def as_run(tmp_path, sae_file):
    """The SAE file as the newest checkpoint of an SAE run in this test's runs folder."""
    ckpt, path = sae_file
    run = runs.create(tmp_path / "runs" / "sae-a", "sae",
                      TrainConfig(method="sae", data="shapes:n=200", checkpoint=str(ckpt), steps=30))
    (run / "checkpoints").mkdir()
    shutil.copy(path, run / "checkpoints" / "step_0000030.safetensors")
    return run


def test_train_part_launches_an_sae_run(tmp_path, sae_file):
    ckpt, _ = sae_file
    at = open_page("dictionary", timeout=120, current_model=str(ckpt))
    no_exception(at)
    at.text_input(key="dict_data").input("shapes:n=200").run()
    at.text_input(key="dict_name").input("my-dictionary").run()
    button(at, "Start").click().run()
    no_exception(at)
    run = tmp_path / "runs" / "my-dictionary"
    assert runs.read_info(run)["kind"] == "sae" and runs.read_status(run)["state"] in ("queued", "running", "failed",
                                                                                          "finished")
    runs.stop(run, wait=60, kill=True)


def test_browse_opens_a_card_a_patch_and_steering(tmp_path, sae_file):
    as_run(tmp_path, sae_file)
    at = open_page("dictionary", timeout=300)
    at.radio(key="dict_part").set_value("browse").run()
    no_exception(at)
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["Explained variance", "PCA, same active dimensions", "L0", "Dead"]
    assert {"Firing density", "Peak activation", "Tracks"} <= set(labels)
    image = at.selectbox(key="dict_image").value
    at.session_state[f"dict_patch_{image}_clicks"] = [{"x": 40.0, "y": 40.0, "positive": True}]
    at.run()
    no_exception(at)
    assert len(at.dataframe) == 2  # the latents, and the latents firing on the clicked patch
    assert any("linear probe of" in c.value for c in at.caption)
    assert {b.label for b in at.get("download_button")} >= {"Top images (PNG)", "Dictionary (.safetensors)",
                                                           "Metrics (JSON)"}


def test_compare_part_against_the_supervised_dictionaries(tmp_path, sae_file):
    as_run(tmp_path, sae_file)
    at = open_page("dictionary", timeout=300)
    at.radio(key="dict_part").set_value("compare").run()
    button(at, "Compare").click().run()
    no_exception(at)
    assert [m.label for m in at.metric][:2] == ["Approximation: supervised dictionary", "Approximation: SAE"]


def test_the_lesson_opens_the_shipped_dictionary_of_the_shipped_model():
    at = open_page("dictionary", timeout=600)
    at.query_params["preset"] = "dictionaries"
    at.run()
    no_exception(at)
    assert at.radio(key="dict_part").value == "browse" and at.selectbox(key="dict_pick").value.startswith("shipped: ")
    assert any("Lesson 8" in i.value and "First train" not in i.value for i in at.info)
    assert "Firing density" in [m.label for m in at.metric]
    assert any("default.safetensors" in c.value for c in at.caption)  # it names the shipped model as its source


def test_the_lesson_starts_by_training_when_no_dictionary_exists(tmp_path, monkeypatch):
    monkeypatch.setattr("app.dictionary.compute.SHIPPED", tmp_path)
    at = open_page("dictionary", timeout=300)
    at.query_params["preset"] = "dictionaries"
    at.run()
    no_exception(at)
    assert at.radio(key="dict_part").value == "train"
    assert any("Lesson 8" in i.value and "First train a dictionary" in i.value for i in at.info)
