"""Every data test gets its own empty decoding cache, so tests never see each other's (or a user's) files."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_LAB_CACHE", str(tmp_path / "cache"))


def write_image(path: Path, size=(20, 16), color=(200, 30, 30), mode="RGB", fmt=None) -> Path:
    """A small solid image file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, fmt)
    return path


def shared(name: str) -> Path:
    """A folder of ../shared/data, or skip: the real data lives beside the repository, not in it."""
    path = Path(os.environ.get("SSL_LAB_SHARED_DATA", SHARED)) / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the repository)")
    return path


def noise_image(path: Path, size=(24, 24), seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return path
