"""app/clickable_image.py's mask preview in real Chromium: its JavaScript gives the server's similarity map,
Otsu threshold, mask and outline (ssl_core.analysis.similarity, app.overlays) on the same float16 features."""

import base64

import numpy as np
import pytest

from app import clickable_image as ci
from app import overlays
from ssl_core.analysis import similarity as sim

HELPERS = ci._JS[:ci._JS.index("export default")]  # the preview's functions, without the component

RUN = """([feats, p, pos, neg, mask, h, w, r]) => {
  %s
  const f = decodeHalves(feats), P = similarity(f, p, pos), N = neg.length ? similarity(f, p, neg) : null;
  const t = otsu(P), m = Array.from(P, (v, i) => (v > t && (!N || v > N[i])) ? 1 : 0);
  const inner = erode(Uint8Array.from(mask), h, w, r);
  return {P: Array.from(P), t, m, outline: mask.map((v, i) => v && !inner[i] ? 1 : 0)};
}""" % HELPERS


@pytest.fixture
def blank(browser):
    ctx = browser.new_context()
    yield ctx.new_page()
    ctx.close()


@pytest.mark.parametrize("width, height, patch, size, pad", [(151, 100, 16, 112, False), (151, 100, 16, 112, True),
                                                             (64, 64, 8, 64, False)])
def test_the_browser_segments_as_the_server_does(blank, width, height, patch, size, pad):
    rng = np.random.default_rng(width + pad)
    frame = sim.make_frame(width, height, patch, size, pad)
    feats = sim.PatchFeatures(rng.standard_normal((*frame.grid, 24)).astype(np.float32), frame)
    halves = feats.unit.astype("<f2")
    feats.unit = halves.astype(np.float32)  # the features the browser holds
    pos, neg = [(0.3 * width, 0.4 * height), (0.7 * width, 0.2 * height)], [(1.0, 1.0)]
    seg = sim.segment(feats, pos, neg, "otsu")
    p = {"R": frame.grid[0], "C": frame.grid[1], "D": 24,
         "frame": {k: getattr(frame, k) for k in ("width", "height", "rw", "rh", "pw", "ph", "patch")}}
    got = blank.evaluate(RUN, [base64.b64encode(halves.tobytes()).decode(), p,
                               [{"x": x, "y": y} for x, y in pos], [{"x": x, "y": y} for x, y in neg],
                               seg.mask.ravel().astype(int).tolist(), height, width, 2])
    assert np.abs(np.array(got["P"]).reshape(height, width) - seg.positive).max() < 1e-5
    assert got["t"] == pytest.approx(seg.threshold, abs=1e-6)
    assert (np.array(got["m"]).reshape(height, width).astype(bool) == seg.mask).all()
    assert (np.array(got["outline"]).reshape(height, width).astype(bool) == overlays.outline(seg.mask, 2)).all()
