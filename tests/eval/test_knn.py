import pytest
import torch

from ssl_core.errors import UserError
from ssl_core.eval import knn, knn_accuracy, knn_predict


def clusters(n=10, noise=0.05, seed=0):
    """Three classes around the three axes of R^3; scale differs per row (cosine ignores it)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(3)
    labels = torch.arange(3).repeat_interleave(n)
    feats = centres[labels] + noise * torch.randn(3 * n, 3, generator=g)
    return feats * torch.rand(3 * n, 1, generator=g).add(0.5), labels


def test_clusters_are_classified():
    train, labels = clusters()
    test = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.3, -0.1], [0.1, 0.1, 5.0]])
    assert knn_predict(train, labels, test, k=5).tolist() == [0, 1, 2]


def test_temperature_decides_a_hand_built_vote():
    # Query (1, 0). One class-0 neighbour at cosine 1.0, two class-1 neighbours at cosine 0.8.
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]])
    labels = torch.tensor([0, 1, 1])
    q = torch.tensor([[1.0, 0.0]])
    # T = 10: weights ~ e^0.1 vs 2 e^0.08, a near-majority vote -> class 1.
    assert knn_predict(train, labels, q, k=3, temperature=10.0).item() == 1
    # T = 0.1: e^10 vs 2 e^8 -> the single closest neighbour wins -> class 0.
    assert knn_predict(train, labels, q, k=3, temperature=0.1).item() == 0


def test_small_temperature_does_not_overflow():
    # Nearest neighbour is class 1; exp(1 / 1e-3) overflows float32 unless shifted.
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]])
    labels = torch.tensor([1, 0, 0])
    assert knn_predict(train, labels, torch.tensor([[1.0, 0.0]]), k=3, temperature=1e-3).item() == 1


def test_k_larger_than_bank_is_clamped():
    train, labels = clusters(n=2)
    test = torch.randn(7, 3)
    assert torch.equal(knn_predict(train, labels, test, k=200), knn_predict(train, labels, test, k=6))
    acc = knn_accuracy(train, labels, test, torch.zeros(7, dtype=torch.long), ks=(3, 200))
    assert set(acc) == {3, 200}


def test_chunking_matches_one_chunk():
    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(60, 8, generator=g), torch.randn(37, 8, generator=g)
    labels = torch.randint(0, 4, (60,), generator=g)
    whole = knn_predict(train, labels, test, k=10, chunk=1024)
    for chunk in (1, 5, 36):
        assert torch.equal(knn_predict(train, labels, test, k=10, chunk=chunk), whole)


def test_accuracy_matches_predict_and_computes_topk_once(monkeypatch):
    g = torch.Generator().manual_seed(2)
    train, test = torch.randn(80, 6, generator=g), torch.randn(40, 6, generator=g)
    labels, test_labels = torch.randint(0, 3, (80,), generator=g), torch.randint(0, 3, (40,), generator=g)
    expected = {k: (knn_predict(train, labels, test, k=k) == test_labels).float().mean().item()
                for k in (1, 5, 20)}
    calls = []
    topk = knn.cosine_topk
    monkeypatch.setattr(knn, "cosine_topk", lambda *a, **k: calls.append(a[2]) or topk(*a, **k))
    assert knn_accuracy(train, labels, test, test_labels, ks=(1, 5, 20)) == pytest.approx(expected)
    assert calls == [20]


def test_num_classes_pads_and_is_checked():
    train, labels = clusters(n=2)
    assert knn_predict(train, labels, train, k=1, num_classes=10).tolist() == labels.tolist()
    with pytest.raises(UserError, match="num_classes"):
        knn_predict(train, labels, train, num_classes=2)


@pytest.mark.parametrize("args, match", [
    ((torch.randn(5, 3), torch.zeros(5, dtype=torch.long), torch.randn(2, 4)), "dimensions"),
    ((torch.randn(5, 3), torch.zeros(4, dtype=torch.long), torch.randn(2, 3)), "one class id per row"),
    ((torch.randn(5), torch.zeros(5, dtype=torch.long), torch.randn(2, 3)), r"shape \(N, D\)"),
    ((torch.randn(5, 3), torch.zeros(5), torch.randn(2, 3)), "integer class ids"),
    ((torch.randn(5, 3), -torch.ones(5, dtype=torch.long), torch.randn(2, 3)), "negative"),
    (([[1.0, 2.0]], torch.zeros(1, dtype=torch.long), torch.randn(2, 2)), "torch.Tensor"),
])
def test_bad_input_raises_user_error(args, match):
    with pytest.raises(UserError, match=match):
        knn_predict(*args)


def test_bad_hyper_parameters_raise_user_error():
    train, labels = clusters(n=2)
    for kwargs in ({"k": 0}, {"temperature": 0.0}, {"chunk": 0}):
        with pytest.raises(UserError):
            knn_predict(train, labels, train, **kwargs)
    with pytest.raises(UserError, match="test_labels"):
        knn_accuracy(train, labels, train, labels[:2])


def test_non_finite_features_raise_user_error():
    train, labels = clusters(n=2)
    train[0, 0] = float("inf")
    with pytest.raises(UserError, match="NaN or inf"):
        knn_predict(train, labels, train)
