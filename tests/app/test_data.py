from PIL import Image

from tests.app.conftest import button, errors, no_exception, open_page


def markdown(at) -> list[str]:
    return [m.value for m in at.markdown]


def test_shapes_grid_views_and_current_image():
    at = open_page("data")
    no_exception(at)
    assert at.selectbox[0].value == "shapes"
    assert at.toggle[0].value is True  # shapes have masks: shown by default
    assert "**view 1 · view 2** (32 px)" in markdown(at)
    seed = at.session_state["view_seed"] if "view_seed" in at.session_state else 0
    button(at, "Draw new views").click().run()
    assert at.session_state["view_seed"] == seed + 1
    button(at, "Use as current image").click().run()
    no_exception(at)
    image = at.session_state["current_image"]
    assert image["pixels"].shape == (32, 32, 3) and image["caption"] == "shapes #0"


def test_multi_crop_and_mae_masks():
    at = open_page("data")
    method = next(s for s in at.selectbox if s.label == "Method")
    method.set_value("dino").run()
    no_exception(at)
    assert any(m.startswith("**local**") for m in markdown(at))
    assert any(m.startswith("**global 1 · global 2**") for m in markdown(at))
    next(s for s in at.selectbox if s.label == "Method").set_value("mae").run()
    no_exception(at)
    assert "**random patch mask**" in markdown(at)
    mask_slider = next(s for s in at.slider if s.label == "Mask ratio")
    assert mask_slider.value == 0.75
    next(s for s in at.slider if s.label == "Colour strength").set_value(0.0).run()
    no_exception(at)


def test_every_control_has_an_explanation():
    at = open_page("data")
    # Each widget is followed by a caption sentence; count them against the widgets.
    widgets = len(at.selectbox) + len(at.radio) + len(at.slider) + len(at.number_input) + len(at.toggle)
    assert len(at.main.caption) >= widgets


def test_folder_with_classes_and_a_bad_folder(tmp_path):
    for cls, colour in [("red", (255, 0, 0)), ("blue", (0, 0, 255))]:
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 40), colour).save(tmp_path / "imgs" / cls / f"{i}.png")
    at = open_page("data")
    at.selectbox[0].set_value("a folder on this server").run()
    at.text_input[0].input(str(tmp_path / "imgs")).run()
    no_exception(at)
    assert not errors(at), errors(at)
    assert any("2 classes" in c.value for c in at.caption)
    at.text_input[0].input(str(tmp_path / "nowhere")).run()
    no_exception(at)
    assert len(errors(at)) == 1 and "\n" not in errors(at)[0]
