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
    assert "(Otsu), less" in second and "nearer a negative click" in second and second != first
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
    table = next(m.value for m in at.markdown if m.value.startswith("**Jaccard with the ground-truth mask**"))
    assert "| this model | colour + position | random init | all foreground |" in table


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


def test_a_photo_opens_at_the_suggested_input_size_and_a_chosen_size_stays(model):
    at = open_page("look", timeout=180, current_model=model)
    no_exception(at)
    size = at.select_slider(key="look_size")
    assert size.value == 224  # chelsea is far larger than the 32 px this model was trained at
    assert any("Suggested: 224" in c.value for c in at.caption)
    size.set_value(320).run()
    at.selectbox[1].set_value("astronaut").run()  # another photo: the size chosen by hand stays
    assert at.select_slider(key="look_size").value == 320


def test_the_checkpoints_recommended_size_comes_first(tmp_path):
    from ssl_core.models import build_backbone, parse_backbone
    from ssl_core.models.checkpoint import save_backbone

    arch = parse_backbone("vit:dim=32,depth=1,heads=2,patch=8", 32)
    path = save_backbone(tmp_path / "rec.safetensors", build_backbone(arch), {"arch": arch, "recommended_size": 128})
    at = open_page("look", timeout=180, current_model=str(path))
    no_exception(at)
    assert at.select_slider(key="look_size").value == 128
    assert any("the size this model's card recommends" in c.value for c in at.caption)


def test_with_negatives_the_threshold_still_decides(model):
    """Issue 14 item 5: with a negative click the slider did nothing while it stayed enabled."""
    at = open_page("look", timeout=180, current_model=model)
    at.session_state["look_clicks"] = [{"x": 150.0, "y": 120.0, "positive": True},
                                       {"x": 5.0, "y": 5.0, "positive": False}]
    at.radio(key="look_rule").set_value("Slider").run()
    assert not at.slider(key="look_t").disabled
    lines = []
    for t in (-0.5, 0.2, 0.9):
        at.slider(key="look_t").set_value(t).run()
        no_exception(at)
        lines.append(next(m.value for m in at.markdown if m.value.startswith("**Mask:")))
        assert f"threshold {t:.3f}" in lines[-1] and "nearer a negative click" in lines[-1]
    assert len(set(lines)) == 3  # every threshold gives its own mask


def test_a_folder_of_four_photos_co_segments_all_four(model, tmp_path):
    """Issue 14 item 13: Look read a folder's train split, so the photo hashed into the 20% test hold-out
    was silently dropped."""
    import numpy as np
    from PIL import Image

    from ssl_core.data.folder import _held_out

    names = ["beach.jpg", "cat.jpg", "dog.jpg", "horse.jpg"]
    assert [_held_out(n) for n in names] == [True, False, False, False]  # the beach falls in the hold-out
    folder = tmp_path / "four"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in names:
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / n)
    at = open_page("look", timeout=180, current_model=model)
    at.session_state["look_clicks"] = [{"x": 150.0, "y": 120.0, "positive": True}]
    at.radio(key="look_view").set_value("Co-segmentation").run()
    at.radio(key="look_gallery").set_value("A dataset or folder").run()
    at.text_input(key="look_gallery_spec").set_value(str(folder)).run()
    no_exception(at)
    assert not errors(at)
    gallery = [c for i in at.get("image") for c in i.captions if c.endswith("%")]
    assert sorted(c.split(":")[0] for c in gallery) == names
    assert any("5 mask PNGs" in c.value for c in at.caption)  # this image's and the four


def test_dataset_folders_must_be_shared_by_the_server(model, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_LAB_DATA_ROOTS", str(tmp_path))  # the model lies there; /etc does not
    at = open_page("look", timeout=180, current_model=model)
    at.radio(key="look_source").set_value("Dataset sample").run()
    at.text_input[0].set_value("/etc").run()
    no_exception(at)
    assert any("not in a folder this server shares" in e for e in errors(at))


class _File:
    """What Streamlit's UploadedFile offers the page: name, size, file_id, getvalue()."""

    def __init__(self, name, data: bytes, size: int | None = None):
        self.name, self.data, self.size, self.file_id = name, data, size or len(data), f"id-{name}-{len(data)}"

    def getvalue(self):
        return self.data


def _png(w, h, value=255) -> bytes:
    import io

    from PIL import Image

    b = io.BytesIO()
    Image.new("L", (w, h), value).save(b, "PNG")
    return b.getvalue()


def test_uploads_pair_masks_by_name_and_refuse_with_one_line_each():
    from app.look.photos import CAP, read_uploads

    a, b = _File("horse1.jpg", _png(2000, 1000, 90)), _File("horse2.png", _png(300, 200, 40))
    photos, problems = read_uploads([a, b], [_File("horse2.png", _png(300, 200)), _File("cow.png", _png(30, 20))])
    assert [p.name for p in photos] == ["horse1.jpg", "horse2.png"] and photos[0].original == (2000, 1000)
    assert photos[0].image.shape == (512, 1024, 3) and photos[0].note == "downscaled from 2000x1000 to 1024x512"
    assert photos[0].mask is None and photos[1].mask.shape == (200, 300) and photos[1].mask.all()
    assert problems == [("mask cow.png matches no uploaded photo by name: name it after its photo "
                        "(horse001.jpg -> horse001.png)")]
    photos, problems = read_uploads([a], [_File("any-name.png", _png(1000, 500))])  # one and one: a pair
    assert photos[0].mask.shape == (512, 1024) and not problems
    photos, problems = read_uploads([a], [_File("any-name.png", _png(500, 500))])
    assert photos[0].mask is None and problems == [("mask any-name.png is 500x500 px but its photo is 2000x1000: "
                                                   "upload the mask made for that photo")]
    photos, problems = read_uploads([a, _File("huge.tif", b"...", size=CAP + 1), _File("notes.txt", b"hello")], [])
    assert len(photos) == 1 and len(problems) == 2 and all("\n" not in p for p in problems)
    assert problems[0].startswith("huge.tif is") and "may be at most" in problems[0]
    assert problems[1].startswith("not an image I can read: notes.txt")
    photos, _ = read_uploads([a, _File("horse1.jpg", _png(64, 64))], [])
    assert [p.name for p in photos] == ["horse1.jpg", "horse1 (2).jpg"]  # two files of one name stay apart
