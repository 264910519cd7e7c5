"""The Map page in AppTest: choose a model and data, draw maps by each projection, colour them, compare
two checkpoints of one run, export; bad input as one line. (Chart selections need a browser: see
tests/e2e/test_map.py.)"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.app.conftest import button, errors, no_exception, open_page

TINY = ["--backbone", "vit:dim=32,depth=2,heads=2,patch=8", "--batch-size", "32", "--data", "shapes:n=256",
        "--set", "eval_every=0", "--set", "log_every=2"]
DATA = "shapes:n=256"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real run trained for a few steps through the CLI, with two checkpoints."""
    run = tmp_path_factory.mktemp("map") / "tiny-run"
    proc = subprocess.run([sys.executable, "-m", "ssl_core", "train", "--method", "simclr", "--out", str(run),
                           "--steps", "6", "--set", "ckpt_every=3", "--json", *TINY],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpts = sorted((run / "checkpoints").glob("*.safetensors"))
    assert len(ckpts) == 2
    return run, ckpts


def draw(at, method="pca", limit=120):
    at.selectbox(key="map_data").set_value("shapes").run()
    at.number_input(key="map_limit").set_value(limit).run()
    at.radio(key="map_method").set_value(method).run()
    button(at, "Draw the map").click().run()
    return at


def charts(at):
    return at.get("plotly_chart")


def count(traces) -> int:
    """Points in plotly traces; plotly sends numpy arrays as {"dtype", "bdata"} (base64)."""
    import base64

    import numpy as np

    def n(x):
        return len(np.frombuffer(base64.b64decode(x["bdata"]), x["dtype"])) if isinstance(x, dict) else len(x)

    return sum(n(t["x"]) for t in traces)


def metric(at, label):
    return [m.value for m in at.metric if m.label == label]


def test_without_a_model_it_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr("app.models.SHIPPED", tmp_path)  # no shipped checkpoint either
    at = open_page("map")
    no_exception(at)
    assert any("Choose a model" in i.value for i in at.info)


def test_without_runs_it_offers_the_shipped_model():
    at = open_page("map")
    no_exception(at)
    assert at.selectbox(key="map_a_run").value == "shipped with SSL Lab"
    assert at.selectbox(key="map_a_ckpt").value.name == "default.safetensors"


def test_draw_colour_and_export(trained):
    _run, ckpts = trained
    at = draw(open_page("map", timeout=180, current_model=str(ckpts[-1])))
    no_exception(at)
    assert not errors(at), errors(at)
    assert len(charts(at)) == 1
    fig = json.loads(charts(at)[0].proto.spec)
    assert fig["data"][0]["type"] == "scattergl"
    assert count(fig["data"]) == 120
    assert {t["name"] for t in fig["data"]} <= {"circle", "square", "triangle", "star", "cross", "heart",
                                                "hexagon", "ring"}
    acc, pixels = metric(at, "kNN top-1 (k=20)"), metric(at, "Raw pixels, same kNN")
    assert len(acc) == 1 and 0 <= float(acc[0]) <= 1 and 0 <= float(pixels[0]) <= 1
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["Export the coordinates (CSV)"]

    options = at.selectbox(key="map_colour").options
    assert options[0] == "label" and "factor: color" in options and "kNN correct" in options
    for option in options:
        at.selectbox(key="map_colour").set_value(option).run()
        no_exception(at)
        traces = json.loads(charts(at)[0].proto.spec)["data"]
        assert count(traces) == 120
    at.selectbox(key="map_colour").set_value("k-means cluster").run()
    at.slider(key="map_clusters").set_value(4).run()
    assert len(json.loads(charts(at)[0].proto.spec)["data"]) <= 4
    at.toggle(key="map_thumbs").set_value(True).run()
    no_exception(at)
    images = json.loads(charts(at)[0].proto.spec)["layout"]["images"]
    assert 0 < len(images) <= 150 and images[0]["source"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_umap_and_tsne(trained, method):
    _run, ckpts = trained
    at = draw(open_page("map", timeout=300, current_model=str(ckpts[-1])), method, limit=80)
    no_exception(at)
    assert not errors(at), errors(at)
    fig = json.loads(charts(at)[0].proto.spec)
    assert count(fig["data"]) == 80


def test_compare_two_steps_of_a_run(trained):
    run, ckpts = trained
    shutil.copytree(run, os.path.join(os.environ["SSL_LAB_RUNS"], run.name))
    at = open_page("map", timeout=180)
    no_exception(at)
    assert at.radio(key="map_a_source").value == "A training run"
    assert at.selectbox(key="map_a_ckpt").value.name == ckpts[-1].name
    at.toggle(key="map_compare").set_value(True).run()
    assert at.selectbox(key="map_b_ckpt").value.name == ckpts[0].name
    draw(at)
    no_exception(at)
    assert not errors(at), errors(at)
    assert len(charts(at)) == 2
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts(at)]
    assert "tiny-run · step 6" in titles[0] and "tiny-run · step 3" in titles[1]  # names that tell them apart
    assert len(metric(at, "kNN top-1 (k=20)")) == 2 and len(metric(at, "Raw pixels, same kNN")) == 2


def test_changed_settings_say_so(trained):
    _run, ckpts = trained
    at = draw(open_page("map", timeout=180, current_model=str(ckpts[-1])))
    at.radio(key="map_pool").set_value("mean").run()
    no_exception(at)
    assert any("settings changed" in c.value for c in at.caption)
    button(at, "Draw the map").click().run()
    no_exception(at)
    assert not any("settings changed" in c.value for c in at.caption)


def test_bad_path_is_one_line(tmp_path):
    bad = tmp_path / "nope.safetensors"
    bad.write_text("not a checkpoint")
    at = open_page("map")
    at.radio(key="map_a_source").set_value("A path on this server").run()
    at.text_input(key="map_a_path").input(str(bad)).run()
    no_exception(at)
    button(at, "Draw the map").click().run()
    no_exception(at)
    assert errors(at) and all("\n" not in e for e in errors(at))


def test_the_selection_gallery_is_sampled_across_the_selection():
    """Issue 14 item 18: 60 of a class-sorted selection came from its first indices, all one class."""
    from app.map.gallery import GALLERY_MAX, sample_across

    chosen = list(range(1000, 3000))  # say, classes of 200 consecutive indices each
    shown = sample_across(chosen)
    assert len(shown) == GALLERY_MAX and shown == sorted(set(shown)) and set(shown) <= set(chosen)
    assert len({i // 200 for i in shown}) >= 8  # nearly every class of the selection, not one
    assert sample_across(chosen) == shown  # the same picture on every rerun
    assert sample_across([5, 3, 9]) == [3, 5, 9]
