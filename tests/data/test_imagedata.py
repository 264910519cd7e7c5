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
