"""Jaccard, interior point, best threshold and overlap: the segmentation metrics."""

import numpy as np
import pytest

from ssl_core.errors import UserError
from ssl_core.eval import segmentation as sg



def test_jaccard():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b[1:3] = True  # 8 pixels, 4 shared
    assert sg.jaccard(a, b) == pytest.approx(4 / 12)
    assert sg.jaccard(a, a) == 1.0 and sg.jaccard(a, ~a) == 0.0
    assert sg.jaccard(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    with pytest.raises(UserError, match="shapes differ"):
        sg.jaccard(a, b[:2])


def test_interior_point_is_the_max_of_the_distance_transform():
    m = np.zeros((20, 30), bool)
    m[2:9, 2:9] = True  # a 7x7 square: centre (5, 5)
    m[10:19, 5:28] = True  # a 9x23 bar: its interior is 5 px deep, deeper than the square's 4
    x, y = sg.interior_point(m)
    assert y == 14 and 9 <= x <= 23 and m[y, x]
    # touching the image border does not make a pixel interior: the border counts as outside
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True
    assert sg.interior_point(edge)[0] in (1, 2)
    # an L shape whose centroid is outside it: the click is still inside
    ell = np.zeros((20, 20), bool)
    ell[2:18, 2:6] = True
    ell[14:18, 2:18] = True
    x, y = sg.interior_point(ell)
    assert ell[y, x]
    with pytest.raises(UserError, match="mask is empty"):
        sg.interior_point(np.zeros((3, 3), bool))


def test_best_threshold_is_exact():
    rng = np.random.default_rng(0)
    score = rng.random((12, 12))
    gt = score + rng.normal(0, 0.2, score.shape) > 0.6
    best, t = sg.best_threshold(score, gt)
    assert sg.jaccard(score > t, gt) == pytest.approx(best)
    brute = max(sg.jaccard(score > v, gt) for v in np.r_[score.ravel(), -1])
    assert best == pytest.approx(brute)


def test_similarity_overlap():
    assert sg.similarity_overlap([0.9, 0.95], [0.1, 0.2]) == 0.0
    assert sg.similarity_overlap([0.1, 0.5, 0.9], [0.1, 0.5, 0.9]) == pytest.approx(1.0)
