"""Shortcuts in pictures: the conflict scenes lie, and a model trained with a perfect colour shortcut follows it."""

import json
import os
import subprocess
import sys

import pytest

from ssl_core.data import load_data
from ssl_core.data.shapes import tied_value
from ssl_core.errors import UserError
from ssl_core.probe.images import image_study, scenes


def test_conflict_scenes_show_the_other_class_shortcut():
    aligned = load_data(scenes("size", 1.0, 100), "test")
    conflict = load_data(scenes("size", 1.0, 100, conflict=True), "test")
    assert aligned.class_names == ["circle", "triangle"]
    assert all(f[0]["size"] == tied_value("size", int(y), 2) for f, y in zip(aligned.factors, aligned.labels))
    assert all(f[0]["size"] == tied_value("size", 1 - int(y), 2) for f, y in zip(conflict.factors, conflict.labels))
    assert {tied_value("size", 0, 2), tied_value("size", 1, 2)} == {"small", "large"}


def test_a_cnn_trained_with_a_perfect_colour_shortcut_follows_it():
    r = image_study("color", 1.0, "cnn", n=400, steps=40)
    assert r["trained"]["follows_shortcut"] > 0.8
    assert r["trained"]["follows_shape"] + r["trained"]["follows_shortcut"] == pytest.approx(1.0)
    assert 0 <= r["shape_only"]["follows_shape"] <= 1 and len(r["gallery"]["labels"]) == 16
    with pytest.raises(UserError, match="linear probe reads"):
        image_study("color", 0.9, "linear-probe")
    with pytest.raises(UserError, match="unknown shortcut"):
        image_study("texture", 0.9)


def test_cli_images_json():
    out = subprocess.run([sys.executable, "-m", "ssl_core", "probe", "images", "--shortcut", "background", "--rate",
                          "1", "--n", "300", "--steps", "20", "--json"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["n_conflict"] == 60 and {"follows_shape", "follows_shortcut"} <= set(r["trained"])
