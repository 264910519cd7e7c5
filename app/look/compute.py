"""What the Look page computes, cached for every session of the server (st.cache_*: bounded, thread-safe).

Keys are the checkpoint path and stamp, and a digest of the image's pixels; arguments starting with `_`
(the model, the image) are not hashed.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import streamlit as st

from ssl_core.analysis import similarity as sim
from ssl_core.analysis.attention import image_attention
from ssl_core.analysis.segmentation import colour_features
from ssl_core.data import load_data, load_image
from ssl_core.data.builtin import BUILTINS, PHOTOS, photo_dir
from ssl_core.data.load import parse_spec
from ssl_core.devices import use_bf16
from ssl_core.errors import UserError
from ssl_core.models import random_init


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


@st.cache_resource(max_entries=64, show_spinner="Extracting patch features...")
def features(ckpt: str, stamp: float, key: str, size: int, layer: int, feature: str, _model, _image, _norm):
    """Patch features of one image (bfloat16 where the CPU is fast: a click needs speed)."""
    dev = next(_model.parameters()).device
    return sim.extract_patch_features(_model, _image, _norm, size, layer, feature, use_bf16("auto", dev))


@st.cache_resource(max_entries=4, show_spinner="Building the random-init twin...")
def random_twin(arch_json: str):
    return random_init(json.loads(arch_json))


@st.cache_resource(max_entries=16, show_spinner=False)
def colour_feats(key: str, size: int, _image):
    return colour_features(_image, size)


@st.cache_resource(max_entries=16, show_spinner="Computing attention...")
def attention(ckpt: str, stamp: float, key: str, size: int, layer: int, _model, _image, _norm):
    return image_attention(_model, _image, _norm, size, layer=layer)


@st.cache_data(max_entries=16, show_spinner=False)
def file_image(path: str):
    img, note = load_image(path)
    return np.asarray(img), note


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset...")
def dataset(spec: str, limit: int):
    """The first `limit` images of a built-in (its train split) or of a folder: all its images, for a folder
    without train/ and test/ would otherwise lose the fifth of its files held out for testing."""
    return load_data(spec, "train" if parse_spec(spec)[0] in BUILTINS else "all", 224, limit)


def photo_files() -> dict[str, Path]:
    """The photographs that ship inside scikit-image, by name ({} without scikit-image)."""
    try:
        root = photo_dir()
    except UserError:
        return {}
    return {Path(f).stem: root / f for f in PHOTOS if (root / f).exists()}
