import pytest
import torch

from ssl_core.data import builtin_names, data_key, folder, load_data
from ssl_core.data.load import parse_spec
from ssl_core.errors import UserError
from tests.data.conftest import write_image


def test_builtin_names_describe_each_dataset():
    names = builtin_names()
    assert set(names) == {"shapes", "digits", "photos"}
    assert all(isinstance(v, str) and v and "\n" not in v for v in names.values())


def test_parse_spec():
    assert parse_spec("shapes:n=2000,correlate=color@0.9") == ("shapes", {"n": "2000", "correlate": "color@0.9"})
    assert parse_spec(" digits ") == ("digits", {})
    assert parse_spec("/data/x:y") == ("/data/x:y", {})  # not a built-in: a path, taken whole


def test_digits_split_and_upscale():
    train, test = load_data("digits"), load_data("digits", "test")
    assert len(train) + len(test) == 1797 and abs(len(test) - 359) <= 1
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert train.class_names == [str(i) for i in range(10)] and set(train.labels.tolist()) == set(range(10))
    assert torch.equal(train.images[:, 0], train.images[:, 2])  # grey
    assert set(train.names).isdisjoint(test.names)
    small = load_data("digits", size=8, limit=100)
    assert small.images.shape == (100, 3, 8, 8) and small.labels.bincount().min() >= 9


def test_digits_placed_at_random_move_and_scale_each_digit_the_same_way_every_time():
    centred, placed = load_data("digits", limit=200), load_data("digits:place=random", limit=200)
    assert placed.images.shape == centred.images.shape and torch.equal(placed.labels, centred.labels)
    ink = placed.images[:, 0] > 64
    rows, cols = ink.any(2), ink.any(1)  # (N, 32): which rows / columns hold ink
    top = rows.float().argmax(1)
    left = cols.float().argmax(1)
    assert top.unique().numel() > 5 and left.unique().numel() > 5  # the digits sit in many places
    assert (rows.sum(1).float().std() > 1) and rows.sum(1).max() <= round(0.8 * 32)  # at many scales, within 80%
    few = load_data("digits:place=random", limit=20)  # a digit's place does not depend on what else is loaded
    same = [placed.names.index(n) for n in few.names]
    assert torch.equal(placed.images[same], few.images)
    with pytest.raises(UserError, match="place"):
        load_data("digits:place=left")


def test_photos_are_bundled_and_unlabelled():
    d = load_data("photos")
    assert len(d) >= 8 and d.images.shape[1:] == (3, 224, 224) and not d.labelled and d.class_names == []
    assert "photos/astronaut" in d.names
    assert torch.equal(load_data("photos", "test").images, d.images)
    assert load_data("photos:size=64", limit=2).images.shape == (2, 3, 64, 64)


def test_size_argument_wins_over_option():
    assert load_data("shapes:n=5,size=64", size=32).images.shape[-1] == 32


@pytest.mark.parametrize("kwargs", [{"split": "validation"}, {"limit": 0}, {"size": 4}, {"size": 5000}])
def test_bad_arguments_are_one_line_errors(kwargs):
    with pytest.raises(UserError) as e:
        load_data("digits", **kwargs)
    assert "\n" not in str(e.value)


def test_limit_takes_a_class_balanced_subset():
    d = load_data("digits", limit=50)
    assert len(d) == 50 and d.labels.bincount(minlength=10).min() == 5
    assert torch.equal(load_data("digits", limit=50).images, d.images)


def test_data_key_names_the_content_without_decoding_it(tmp_path, monkeypatch):
    for i in range(4):
        write_image(tmp_path / "pics" / f"{i}.png", size=(40, 40), color=(60 * i, 0, 0))
    pics = str(tmp_path / "pics")
    for spec, split in ((pics, "all"), ("shapes:n=20", "all"), ("shapes:n=20,scene=easy", "test"), ("digits", "train")):
        assert data_key(spec, split, 32) == load_data(spec, split, 32).key
    assert data_key("shapes:n=20", "train", 32) != data_key("shapes:n=20", "test", 32)
    before = data_key(pics, "all", 32)
    monkeypatch.setattr(folder, "_decode", lambda *a: pytest.fail("data_key decoded the folder"))
    write_image(tmp_path / "pics" / "0.png", size=(40, 40), color=(0, 200, 0), fmt="PNG")  # same name, new pixels
    assert data_key(pics, "all", 32) != before
