"""The Probe page in AppTest: each of its three parts, run for real on small settings."""

from tests.app.conftest import button, no_exception, open_page, tiny_checkpoint


def test_latent_lab_setting_heatmap_and_depth():
    at = open_page("probe", timeout=300)
    no_exception(at)
    assert [m.label for m in at.metric] == ["Shortcut bias", "Test accuracy", "Bayes-optimal accuracy"]
    assert any("our formula" in c.value for c in at.caption)
    at.slider(key="lab_seeds").set_value(1).run()
    at.radio(key="lab_view").set_value("Heatmap").run()
    at.multiselect(key="lab_ratios").set_value([1.0, 4.0]).run()
    at.multiselect(key="lab_rhos").set_value([0.7, 0.9]).run()
    button(at, "Run the sweep").click().run()
    no_exception(at)
    assert at.get("plotly_chart")
    at.radio(key="lab_view").set_value("Bias against depth").run()
    no_exception(at)
    assert at.get("plotly_chart")


def test_lesson_link_opens_the_depth_comparison():
    at = open_page("probe", timeout=300, **{})
    at.query_params["preset"] = "shortcuts"
    at.run()
    no_exception(at)
    assert at.radio(key="lab_view").value == "Bias against depth" and at.select_slider(key="lab_ratio").value == 8.0
    assert any("Lesson 7" in i.value for i in at.info)


def test_images_part_trains_and_shows_the_conflict_gallery():
    at = open_page("probe", timeout=600)
    at.radio(key="probe_part").set_value("images").run()
    no_exception(at)
    at.radio(key="img_shortcut").set_value("color").run()
    button(at, "Train and test").click().run()
    no_exception(at)
    labels = [m.label for m in at.metric]
    assert labels == ["Follows the shape", "Follows the shortcut", "Shape-only model follows the shape"]
    assert len(at.get("image")) >= 1  # the gallery of conflict scenes


def test_factor_probes_of_a_checkpoint(tmp_path):
    ckpt = str(tiny_checkpoint(tmp_path / "tiny.safetensors"))
    at = open_page("probe", timeout=600, current_model=ckpt)
    at.radio(key="probe_part").set_value("factors").run()
    at.text_input(key="fac_data").input("shapes:n=300").run()
    button(at, "Probe the factors").click().run()
    no_exception(at)
    assert at.get("plotly_chart") and at.dataframe
    assert "shape" in at.dataframe[0].value["factor"].tolist()
