import pytest
import torch

from ssl_core.data import cache, folder, load_data
from ssl_core.errors import UserError
from tests.data.conftest import noise_image


def make_folder(root, n=10):
    for i in range(n):
        noise_image(root / ("a" if i % 2 else "b") / f"{i}.png", seed=i)
    return str(root)


def test_second_load_is_a_cache_hit_without_decoding(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "data")
    first = load_data(root, size=16)
    assert list((tmp_path / "cache" / "data").glob("*.pt"))

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder, "decode_files", boom)
    again = load_data(root, size=16)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert first.names == again.names and first.class_names == again.class_names
    with pytest.raises(AssertionError):  # another size is another key
        load_data(root, size=12)


def test_changed_file_invalidates_the_cache(tmp_path):
    root = make_folder(tmp_path / "data")
    before = load_data(root, size=16)
    name = before.names[0]
    noise_image(tmp_path / "data" / name, size=(30, 30), seed=99)  # new content, new size on disk
    after = load_data(root, size=16)
    assert not torch.equal(before.images[0], after.images[after.names.index(name)])
    assert len(list((tmp_path / "cache" / "data").glob("*.pt"))) == 2


def test_builtin_cache_round_trips_factors(tmp_path):
    a = load_data("shapes:n=12")
    b = load_data("shapes:n=12")
    assert a.factors == b.factors and torch.equal(a.masks, b.masks) and torch.equal(a.semantic, b.semantic)
    assert b.source == "shapes:n=12"


def test_damaged_cache_file_is_rebuilt(tmp_path):
    root = make_folder(tmp_path / "data")
    a = load_data(root, size=16)
    for f in (tmp_path / "cache" / "data").glob("*.pt"):
        f.write_bytes(b"garbage")
    assert torch.equal(load_data(root, size=16).images, a.images)


def test_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("SSL_LAB_CACHE", str(blocker))
    assert len(load_data("shapes:n=3")) == 3 and not list(tmp_path.glob("**/*.tmp"))


def test_memory_guard_refuses_before_decoding(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "data")
    monkeypatch.setattr(cache, "available_memory", lambda: 1000)
    with pytest.raises(UserError) as e:
        load_data(root, size=64)
    msg = str(e.value)
    assert "\n" not in msg and "--size" in msg and "limit" in msg
    with pytest.raises(UserError):
        load_data("shapes:n=100")


def test_available_memory_is_positive():
    assert cache.available_memory() > 0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL warns; the engine refuses
def test_decode_files_leaves_out_a_file_claiming_too_many_pixels(tmp_path):
    from tests.data.test_images import huge_png

    paths = [noise_image(tmp_path / "0.png"), huge_png(tmp_path / "1.png", 13000, 13000), noise_image(tmp_path / "2.png")]
    images, masks, kept = cache.decode_files(paths, 16)
    assert kept == [0, 2] and images.shape == (2, 3, 16, 16) and masks is None


def test_the_cache_keeps_the_recently_used_within_its_limit(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "data")
    monkeypatch.setenv("SSL_LAB_DATA_CACHE_GB", str(30_000 / cache.GB))  # room for about two 16 px datasets
    files = lambda: sorted((tmp_path / "cache" / "data").glob("*.pt"))
    load_data(root, size=16)
    [first] = files()
    load_data(root, size=17)
    load_data(root, size=16)  # a hit: now the most recently used
    load_data(root, size=18)
    assert first in files() and len(files()) == 2, "the least recently used (17 px) went first"
    assert sum(f.stat().st_size for f in files()) <= 30_000
