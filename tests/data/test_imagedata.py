import torch

from ssl_core.data import ImageData, load_data
from ssl_core.data.imagedata import balanced_pick


def test_subset_keeps_fields_aligned():
    d = load_data("shapes:n=10")
    for idx in ([3, 1], torch.tensor([3, 1]), range(3, 0, -2)):
        s = d.subset(idx)
        assert len(s) == 2 and torch.equal(s.images, d.images[[3, 1]]) and torch.equal(s.masks, d.masks[[3, 1]])
        assert s.names == [d.names[3], d.names[1]] and s.factors == [d.factors[3], d.factors[1]]
        assert torch.equal(s.labels, d.labels[[3, 1]]) and torch.equal(s.semantic, d.semantic[[3, 1]])
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[0, 9]] = True
    assert d.subset(mask).names == [d.names[0], d.names[9]]
    assert len(d.subset([])) == 0


def test_labelled_and_repr():
    d = ImageData(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.tensor([-1, -1]), [], ["a", "b"])
    assert not d.labelled and len(d) == 2 and d.masks is None and d.skipped == 0
    assert "2 images of 8 px" in repr(d)
    d.labels[1] = 0
    assert d.labelled


def test_balanced_pick():
    labels = [0] * 90 + [1] * 10
    pick = balanced_pick(labels, 20)
    assert len(pick) == 20 and pick == sorted(pick) and sum(labels[i] for i in pick) == 10
    assert balanced_pick(labels, 20) == pick and balanced_pick(labels, 200) == list(range(100))
    assert len(balanced_pick([-1] * 30, 7)) == 7


def test_batches_are_dicts_of_aligned_tensors_with_factor_codes():
    from ssl_core.data import shapes

    d = load_data("shapes:n=20")
    b = d.batch(torch.tensor([4, 1]))
    assert set(b) == {"images", "labels", "index", "masks", "factors"}
    assert torch.equal(b["images"], d.images[[4, 1]]) and b["index"].tolist() == [4, 1]
    assert set(b["factors"]) == set(shapes.VOCAB)
    for name, codes in b["factors"].items():
        for row, i in enumerate((4, 1)):
            main = d.factors[i][0]
            value = {"objects": str(len(d.factors[i])), "position": shapes.position_name(main["x"], main["y"])}.get(
                name, main.get(name))
            assert d.vocab[name][int(codes[row])] == value, name
    assert b["factors"]["shape"].tolist() == b["labels"].tolist()  # the label is the main object's shape


def test_tensor_data_batches_and_the_all_split():
    from ssl_core.data import TensorData

    t = TensorData({"inputs": torch.randn(6, 3), "labels": torch.arange(6)})
    b = t.batch(torch.tensor([5, 0]))
    assert b["labels"].tolist() == [5, 0] and b["inputs"].shape == (2, 3) and t.labelled
    assert len(t.subset([1, 2])) == 2
    train, test, both = (load_data("shapes:n=20", s) for s in ("train", "test", "all"))
    assert len(both) == len(train) + len(test) and both.names == train.names + test.names
