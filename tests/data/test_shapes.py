import numpy as np
import pytest

from ssl_core.data import load_data
from ssl_core.data.shapes import (
    BACKGROUNDS,
    COLORS,
    FACTORS,
    RGB,
    SHAPES,
    SIZES,
    TEXTURES,
    render_scene,
    tied_value,
)
from ssl_core.errors import UserError


def test_vocabularies_are_rich_enough():
    assert len(SHAPES) >= 6 and len(COLORS) >= 8 and len(TEXTURES) >= 4 and len(BACKGROUNDS) >= 4


def test_scene_is_deterministic_per_index():
    a, b = render_scene(7, 32), render_scene(7, 32)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["masks"], b["masks"])
    assert a["factors"] == b["factors"]
    assert not np.array_equal(a["image"], render_scene(8, 32)["image"])
    assert not np.array_equal(a["image"], render_scene(7, 32, seed=1)["image"])


def test_scene_does_not_depend_on_what_else_is_generated():
    small = load_data("shapes:n=5")
    large = load_data("shapes:n=40")
    assert (small.images == large.images[:5]).all()
    assert small.factors == large.factors[:5]


def test_train_and_test_are_disjoint():
    train, test = load_data("shapes:n=50"), load_data("shapes:n=50", "test")
    assert len(train) == 50 and len(test) == 10
    flat = lambda d: {bytes(x.numpy()) for x in d.images}
    assert not flat(train) & flat(test)
    assert load_data("shapes:n=50,n_test=7", "val").images.shape[0] == 7


def test_same_scene_at_any_resolution():
    """Draws happen in normalised coordinates: only the pixel count changes with the size."""
    a, b = render_scene(3, 32), render_scene(3, 64)
    assert a["factors"][0]["shape"] == b["factors"][0]["shape"] and a["label"] == b["label"]
    assert a["factors"][0]["x"] == b["factors"][0]["x"]


@pytest.mark.parametrize("size", [32, 64, 224])
def test_shapes_and_dtypes(size):
    s = render_scene(11, size)
    assert s["image"].shape == (size, size, 3) and s["image"].dtype == np.uint8
    assert s["masks"].shape == (size, size) and s["semantic"].shape == (size, size)
    assert s["masks"].dtype == np.uint8 and s["semantic"].dtype == np.uint8


def test_factors_labels_and_masks_agree():
    for i in range(60):
        s = render_scene(i, 48, n_objects=(1, 4))
        f, masks, sem = s["factors"], s["masks"], s["semantic"]
        assert 1 <= len(f) <= 4
        assert f[0]["shape"] == SHAPES[s["label"]]
        main = masks == 1
        assert main.sum() > 0 and f[0]["pixels"] == main.sum()
        assert (sem[main] == s["label"] + 1).all()  # main object's pixels carry its class
        assert ((sem == 0) == (masks == 0)).all()
        assert masks.max() <= len(f)
        for oid, obj in enumerate(f, start=1):  # every instance id carries its own shape's class
            assert (sem[masks == oid] == SHAPES.index(obj["shape"]) + 1).all()
            assert obj["color"] in COLORS and obj["texture"] in TEXTURES and obj["size"] in SIZES
            assert obj["background"] in BACKGROUNDS and 0 <= obj["rotation"] < 360
        # the main object is the largest
        assert all(o["radius"] < f[0]["radius"] for o in f[1:])


def test_solid_main_object_has_its_colour():
    solid = [s for s in (render_scene(i, 64, n_objects=(1, 1)) for i in range(40)) if s["factors"][0]["texture"] == "solid"]
    assert solid
    for s in solid:
        inner = s["image"][s["masks"] == 1].astype(float)
        assert np.abs(np.median(inner, 0) - RGB[s["factors"][0]["color"]]).max() < 40


def test_n_objects_range_is_honoured():
    counts = {len(render_scene(i, 32, n_objects=(2, 3))["factors"]) for i in range(40)}
    assert counts == {2, 3}
    assert {len(render_scene(i, 32, n_objects=(1, 1))["factors"]) for i in range(10)} == {1}


def test_correlate_rate_is_honoured():
    rate, n = 0.8, 400
    tied = [render_scene(i, 32, correlate="+".join(f"{f}@{rate}" for f in FACTORS)) for i in range(n)]
    free = [render_scene(i, 32) for i in range(n)]
    for factor, values in FACTORS.items():
        share = lambda scenes, f=factor: np.mean([s["factors"][0][f] == tied_value(f, s["label"]) for s in scenes])
        expected = rate + (1 - rate) / len(values)  # the free draw can land on the tied value too
        assert abs(share(tied) - expected) < 0.06, factor
        assert abs(share(free) - 1 / len(values)) < 0.08, factor


def test_correlate_changes_only_the_tied_factor():
    a, b = render_scene(9, 32), render_scene(9, 32, correlate="color@1")
    fa, fb = a["factors"][0], b["factors"][0]
    assert fb["color"] == tied_value("color", b["label"])
    assert {k: v for k, v in fa.items() if k != "color"} == {k: v for k, v in fb.items() if k != "color"}


def test_loader_options_and_errors():
    d = load_data("shapes:n=20,size=64,n_objects=1,correlate=color@1")
    assert d.images.shape == (20, 3, 64, 64) and d.masks.shape == (20, 64, 64)
    assert d.labelled and d.class_names == list(SHAPES) and d.names[0] == "shapes/train/000000"
    assert all(f[0]["color"] == tied_value("color", int(y)) for f, y in zip(d.factors, d.labels, strict=True))
    assert all(len(f) == 1 for f in d.factors)
    for bad in ["shapes:n=x", "shapes:colour=1", "shapes:correlate=shape@0.5", "shapes:size=16", "shapes:n"]:
        with pytest.raises(UserError) as e:
            load_data(bad)
        assert "\n" not in str(e.value)


def test_easy_scenes_hold_one_large_central_solid_object_on_a_plain_background():
    for i in range(30):
        s = render_scene(i, 48, scene="easy")
        (main,) = s["factors"]
        assert main["background"] == "plain" and main["size"] == "large" and main["texture"] == "solid"
        inside = s["image"][s["masks"] == 1].reshape(-1, 3).astype(int)
        solid = (np.abs(inside - np.median(inside, 0)).max(1) <= 1).mean()
        assert solid > 0.8  # one colour, but for the antialiased pixels along the edge
        assert main["radius"] >= 0.3 and 0.3 <= main["x"] <= 0.7 and 0.3 <= main["y"] <= 0.7
        assert (s["masks"] == 1).mean() > 0.12  # a large object: at least an eighth of the image
        background = s["image"][s["masks"] == 0].reshape(-1, 3).astype(int)
        plain = (np.abs(background - np.median(background, 0)).max(1) <= 1).mean()
        assert plain > 0.85  # one colour, but for the antialiased pixels along the object's edge


def test_easy_and_cluttered_scenes_share_the_random_stream():
    for i in range(10):
        easy, hard = render_scene(i, 32, scene="easy")["factors"][0], render_scene(i, 32)["factors"][0]
        assert easy["shape"] == hard["shape"] and easy["color"] == hard["color"]
        assert easy["rotation"] == hard["rotation"]
    assert np.array_equal(render_scene(3, 32)["image"], render_scene(3, 32, scene="cluttered")["image"])


def test_easy_scene_option_of_the_loader():
    d = load_data("shapes:n=12,scene=easy")
    assert all(len(f) == 1 and f[0]["background"] == "plain" for f in d.factors)
    hard = load_data("shapes:n=12,scene=cluttered")
    assert (hard.images == load_data("shapes:n=12").images).all()
    for bad in ["shapes:scene=hard", "shapes:scene=easy,n_objects=2-3"]:
        with pytest.raises(UserError) as e:
            load_data(bad)
        assert "\n" not in str(e.value)
