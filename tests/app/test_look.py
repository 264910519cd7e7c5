"""Look page logic in AppTest: it opens on a model, segments from clicks held in session state (chart
clicks themselves need a browser: see tests/e2e/test_look.py), scores a mask beside its baselines, and
turns bad input into one-line messages."""

import pytest

from tests.app.conftest import errors, no_exception, open_page, tiny_checkpoint


@pytest.fixture
def model(tmp_path):
    return str(tiny_checkpoint(tmp_path / "tiny.safetensors"))


def test_without_a_model_it_says_where_to_pick_one(monkeypatch, tmp_path):
    monkeypatch.setattr("pathlib.Path.exists", lambda self: False if self.name == "default.safetensors" else
                        type(self).is_file(self) or type(self).is_dir(self))
    at = open_page("look")
    no_exception(at)
    assert any("Checkpoints page" in i.value for i in at.info)


def test_opens_on_the_shipped_model_and_prefers_the_current_one(model):
    at = open_page("look", timeout=180)
    no_exception(at)
    assert at.selectbox[0].value == "assets/checkpoints/default.safetensors"
    assert any("Click on the object" in i.value for i in at.info)
    at = open_page("look", timeout=180, current_model=model)
    assert at.selectbox[0].value == model and at.selectbox[0].options[1].endswith("default.safetensors")


def test_clicks_give_a_mask_and_negative_clicks_change_it(model):
    at = open_page("look", timeout=180, current_model=model)
    no_exception(at)
    assert any("Click on the object" in i.value for i in at.info)
    at.session_state["look_clicks"] = [{"x": 150.0, "y": 120.0, "positive": True}]
    at.run()
    no_exception(at)
    first = next(m.value for m in at.markdown if m.value.startswith("**Mask:"))
    assert "Otsu" in first
    at.session_state["look_clicks"] = [{"x": 150.0, "y": 120.0, "positive": True},
                                       {"x": 5.0, "y": 5.0, "positive": False}]
    at.run()
    second = next(m.value for m in at.markdown if m.value.startswith("**Mask:"))
    assert "nearest prototype" in second and second != first
    assert len(at.get("download_button")) == 3
    next(b for b in at.button if b.label == "Undo").click().run()
    assert "Otsu" in next(m.value for m in at.markdown if m.value.startswith("**Mask:"))
    next(b for b in at.button if b.label == "Clear").click().run()
    assert not any(m.value.startswith("**Mask:") for m in at.markdown)


def test_dataset_sample_with_mask_is_scored_beside_baselines(model):
    at = open_page("look", timeout=180, current_model=model)
    at.radio(key="look_source").set_value("Dataset sample").run()
    at.session_state["look_clicks"] = [{"x": 100.0, "y": 100.0, "positive": True}]
    at.radio(key="look_rule").set_value("Slider").run()
    no_exception(at)
    labels = [m.label for m in at.metric]
    assert labels == ["Jaccard, this model", "Jaccard, colour + position", "Jaccard, random init",
                      "Jaccard, all foreground"]


@pytest.mark.parametrize("view", ["Co-segmentation", "Attention", "PCA", "Attributions"])
def test_more_views_open(model, view):
    at = open_page("look", timeout=180, current_model=model)
    at.session_state["look_clicks"] = [{"x": 150.0, "y": 120.0, "positive": True}]
    at.radio(key="look_view").set_value(view).run()
    no_exception(at)
    assert not errors(at)
    if view == "Attributions":
        next(b for b in at.button if b.label == "Compute attribution").click().run()
        no_exception(at)
        assert not errors(at)
        saved = at.session_state["look_attr"]
        assert saved[1] == "integrated_gradients" and saved[2].ndim == 2


def test_a_non_image_upload_is_one_line(model):
    at = open_page("look", timeout=180, current_model=model)
    at.radio(key="look_source").set_value("Upload").run()
    no_exception(at)  # waiting for a file is not an error
    from ssl_core.data import load_image
    from ssl_core.errors import UserError

    with pytest.raises(UserError, match="not an image I can read"):
        load_image(b"%PDF-1.4 not a picture")
