"""Factor probes of a checkpoint: every factor of the scenes, or a folder's labels, beside the baselines."""

import json
import os
import subprocess
import sys

from ssl_core.probe.factors import factor_probes
from tests.app.conftest import tiny_checkpoint
from tests.data.conftest import write_image


def test_every_factor_of_the_scenes_beside_pixels_and_random_init(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    r = factor_probes(ckpt, "shapes:n=200", limit=None)
    names = [f["factor"] for f in r["factors"]]
    assert {"shape", "color", "size", "texture", "background", "position", "objects"} <= set(names)
    for f in r["factors"]:
        for key in ("model", "pixels", "random_init"):
            assert 0 <= f[key]["linear"] <= 1 and 0 <= f[key]["knn"] <= 1
        assert 0 < f["chance"] < 1
    # the colour of the main object is in the raw pixels, well above always answering the commonest colour
    colour = next(f for f in r["factors"] if f["factor"] == "color")
    assert colour["pixels"]["linear"] > colour["chance"] + 0.15


def test_a_labelled_folder_is_probed_for_its_labels(tmp_path):
    for c, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(30):
            write_image(tmp_path / "pics" / c / f"{i}.png", size=(32, 32), color=tuple(v + i for v in colour))
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    out = subprocess.run([sys.executable, "-m", "ssl_core", "probe", "factors", "--checkpoint", str(ckpt), "--data",
                          str(tmp_path / "pics"), "--json"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert [f["factor"] for f in r["factors"]] == ["label"] and r["factors"][0]["pixels"]["linear"] > 0.9
