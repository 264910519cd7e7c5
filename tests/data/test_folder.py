import numpy as np
import pytest
from PIL import Image

from ssl_core.data import load_data
from ssl_core.data.folder import _held_out, pair_by_stem
from ssl_core.errors import UserError
from tests.data.conftest import noise_image, write_image
from tests.data.test_images import huge_png, peak_rss_mb


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


def test_class_folders_give_sorted_labels(tmp_path):
    for cls, n in (("zebra", 6), ("ant", 5)):
        for i in range(n):
            write_image(tmp_path / cls / f"{i}.png", color=(10 * i, 0, 0))
    write_image(tmp_path / "loose.png")  # beside class folders: ignored, as ImageFolder does
    train, test = load_data(str(tmp_path), size=16), load_data(str(tmp_path), "test", size=16)
    assert train.class_names == ["ant", "zebra"] == test.class_names
    assert len(train) + len(test) == 11
    assert set(train.names).isdisjoint(test.names)
    for d in (train, test):
        for name, y in zip(d.names, d.labels.tolist(), strict=True):
            assert name.split("/")[0] == d.class_names[y]
    assert train.images.dtype.is_floating_point is False and train.images.shape[1:] == (3, 16, 16)


def test_flat_folder_is_unlabelled_with_a_stable_hold_out(tmp_path):
    for i in range(30):
        write_image(tmp_path / f"img{i:02d}.jpg", color=(i, i, i))
    train, test = load_data(str(tmp_path), size=8), load_data(str(tmp_path), "test", size=8)
    assert not train.labelled and train.class_names == [] and (train.labels == -1).all()
    assert sorted(train.names + test.names) == [f"img{i:02d}.jpg" for i in range(30)]
    assert test.names == [f"img{i:02d}.jpg" for i in range(30) if _held_out(f"img{i:02d}.jpg")]
    assert 0 < len(test) < 15


def test_train_test_folders_share_class_ids(tmp_path):
    write_image(tmp_path / "train" / "cat" / "a.png")
    write_image(tmp_path / "train" / "dog" / "b.png")
    write_image(tmp_path / "val" / "dog" / "c.png")  # no cat in val: dog must still be class 1
    train, test = load_data(str(tmp_path), "train", size=8), load_data(str(tmp_path), "val", size=8)
    assert train.class_names == test.class_names == ["cat", "dog"]
    assert test.labels.tolist() == [1] and test.names == ["val/dog/c.png"]
    assert len(train) == 2


def test_images_and_masks_pair_by_stem(tmp_path):
    for i in range(12):
        write_image(tmp_path / "images" / f"h{i}.jpg", size=(40, 20))
        m = np.zeros((20, 40), np.uint8)
        m[:, 20:] = 255  # right half is foreground
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(m).save(tmp_path / "masks" / f"h{i}.png")
    write_image(tmp_path / "images" / "nomask.jpg")  # no mask: left out
    d = load_data(str(tmp_path), size=10)
    t = load_data(str(tmp_path), "test", size=10)
    assert len(d) + len(t) == 12 and "images/nomask.jpg" not in d.names + t.names
    assert d.masks.shape == (len(d), 10, 10) and set(d.masks.unique().tolist()) == {0, 1}
    # centre crop of a 40x20 image keeps columns 10..30: the mask's left half is background
    assert (d.masks[:, :, :5] == 0).all() and (d.masks[:, :, 5:] == 1).all()


def test_resize_shorter_side_and_centre_crop(tmp_path):
    a = np.zeros((20, 60, 3), np.uint8)
    a[:, 20:40] = 255  # a white band in the middle third
    for i in range(6):
        Image.fromarray(a).save(tmp_path / f"w{i}.png")
    d = load_data(str(tmp_path), size=20)
    assert len(d) and (d.images == 255).all()  # the centre crop is exactly the band; no resize at 20 px
    half = load_data(str(tmp_path), size=10)
    assert half.images.float().mean() > 250  # shorter side 20 -> 10, then the same centre crop


def test_corrupt_file_is_skipped_and_counted(tmp_path):
    for i in range(8):
        noise_image(tmp_path / "c" / f"{i}.png", seed=i)
    bad = [tmp_path / "c" / f"bad{i}.png" for i in range(8)]
    for p in bad:
        p.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    trunc = tmp_path / "c" / "trunc.jpg"
    data = (noise_image(tmp_path / "tmp.jpg", size=(64, 64))).read_bytes()
    (tmp_path / "tmp.jpg").unlink()
    trunc.write_bytes(data[: len(data) // 2])
    both = [load_data(str(tmp_path), s, size=16) for s in ("train", "test")]
    assert sum(d.skipped for d in both) == 9
    assert sum(len(d) for d in both) == 8


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL warns; the engine refuses
def test_decompression_bombs_in_a_folder_are_skipped_without_decoding(tmp_path):
    """Issue 15: four 21 KB PNGs claiming 13000x13000 cost 3.7 GB in every path that decodes a folder.
    Now each is refused from its header and counted with the unreadable files, in bounded memory."""
    root = tmp_path / "photos"
    for i in range(4):
        huge_png(root / f"a{i}.png", 13000, 13000)  # the first file in sorted order, too
    for i in range(4):
        noise_image(root / f"b{i}.png", seed=i)
    # first in a fresh process (its decoding cache is still empty), measuring its peak memory
    added, n = peak_rss_mb(f"from ssl_core.data import load_data\nresult = len(load_data({str(root)!r}, 'all', 16, "
                           "None))")
    assert n == 4 and added < 100, f"the folder took {added:.0f} MB"
    d = load_data(str(root), "all", size=16)
    assert len(d) == 4 and d.skipped == 4 and all(n.startswith("b") for n in d.names)
    masks = tmp_path / "pairs"
    noise_image(masks / "images" / "x.png")
    huge_png(masks / "masks" / "x.png", 13000, 13000)  # a mask can be a bomb too
    noise_image(masks / "images" / "y.png")
    write_image(masks / "masks" / "y.png", size=(24, 24), mode="L", color=255)
    pairs = load_data(str(masks), "all", size=16)
    assert pairs.names == ["images/y.png"] and pairs.skipped == 1


def test_all_unreadable_is_a_user_error(tmp_path):
    for i in range(6):
        (tmp_path / f"x{i}.jpg").write_bytes(b"nope")
    with pytest.raises(UserError) as e:
        load_data(str(tmp_path))
    assert "could be read" in one_line(e)


@pytest.mark.parametrize("make, words", [
    (lambda p: p, "no images"),  # empty folder
    (lambda p: p / "missing", "no folder"),
    (lambda p: write_image(p / "one.png"), "is a file"),
])
def test_bad_paths_are_one_line_errors(tmp_path, make, words):
    target = make(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(UserError) as e:
        load_data(str(target))
    assert words in one_line(e)


def test_tilde_and_relative_paths(tmp_path, monkeypatch):
    for i in range(6):
        write_image(tmp_path / "pics" / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    a, b = load_data("pics", size=8), load_data("~/pics", size=8)
    assert a.names == b.names and (a.images == b.images).all()


def test_default_size_is_the_images_own(tmp_path):
    for i in range(6):
        write_image(tmp_path / f"{i}.png", size=(50, 40))
    assert load_data(str(tmp_path)).images.shape[-1] == 40


def test_pair_by_stem_refusals(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(UserError, match="no image in"):
        pair_by_stem(tmp_path / "a", tmp_path / "b")
    with pytest.raises(UserError, match="is not a folder"):
        pair_by_stem(tmp_path / "nope", tmp_path / "b")
