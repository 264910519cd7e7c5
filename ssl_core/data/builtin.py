"""The built-in datasets: nothing to download, ever, so a classroom works offline.

- shapes: procedural scenes with masks and factors (see shapes.py);
- digits: scikit-learn's 1,797 8x8 handwritten digits, upscaled;
- photos: the colour photographs that ship inside scikit-image's wheel, read from its files.
"""

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssl_core.data import shapes
from ssl_core.data.cache import check_memory, decode_files
from ssl_core.data.imagedata import ImageData, balanced_pick
from ssl_core.errors import UserError

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "color.png", "hubble_deep_field.jpg", "ihc.png",
          "motorcycle_left.png", "retina.jpg", "rocket.jpg")  # the RGB photographs among skimage/data


@dataclass(frozen=True)
class Builtin:
    description: str
    build: Callable[..., ImageData]  # build(split, size, limit, **options)
    default_size: int
    options: dict[str, Callable[[str], object]] = field(default_factory=dict)  # name -> parser of its text
    sizes: tuple[int, int] = (8, 1024)


# --- shapes ------------------------------------------------------------------------------------------

def build_shapes(split: str, size: int, limit: int | None, n: int = 5000, n_test: int | None = None, seed: int = 0,
                 correlate=None, n_objects=None, classes=shapes.SHAPES, conflict: int = 0,
                 scene: str = "cluttered") -> ImageData:
    """Scenes 0..count-1 of the split (count = n, or n_test = n // 5 for test; `limit` keeps the first:
    scenes are independent draws, so the first ones are already a fair sample). `scene=easy` is one large
    solid object on a plain background (see shapes.py), cluttered (the default) one to four on any background."""
    if scene == "easy" and n_objects not in (None, (1, 1)):
        raise UserError("shapes: scene=easy draws one object a scene: leave out n_objects (or use scene=cluttered)")
    n_objects = n_objects or (1, 4)
    count = n if split == "train" else (n // 5 if n_test is None else n_test)
    count = min(count, limit) if limit else count
    if count < 1:
        raise UserError(f"shapes has no {split} images with n={n}: use n=10 or more")
    for factor in shapes.parse_correlate(correlate):
        if factor not in shapes.FACTORS:
            raise UserError(f"correlate: unknown factor {factor!r}: use one of {', '.join(shapes.FACTORS)}")
    check_memory(count, size, planes=5)
    scenes = [shapes.render_scene(i, size, seed, correlate, n_objects, split, classes, bool(conflict), scene)
              for i in range(count)]
    stack = lambda key: torch.from_numpy(np.stack([s[key] for s in scenes]))
    return ImageData(
        images=stack("image").permute(0, 3, 1, 2).contiguous(), labels=stack("label").long(),
        class_names=list(classes), names=[f"shapes/{split}/{i:06d}" for i in range(count)],
        masks=stack("masks"), semantic=stack("semantic"), factors=[s["factors"] for s in scenes])


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _objects(text: str) -> tuple[int, int]:
    lo, _, hi = text.replace("..", "-").partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not 1 <= lo <= hi <= 8:
        raise ValueError(text)
    return lo, hi


def _classes(text: str) -> tuple[str, ...]:
    """"2" (the first two shapes) or "circle+triangle" (those, in label order)."""
    names = shapes.SHAPES[:int(text)] if text.isdigit() else tuple(t.strip() for t in text.split("+"))
    if not 2 <= len(names) <= len(shapes.SHAPES) or len(set(names)) < len(names) or set(names) - set(shapes.SHAPES):
        raise ValueError(text)
    return tuple(names)


def _one_of(values: tuple[str, ...]) -> Callable[[str], str]:
    """The parser of an option that takes one of `values`."""
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(text)
        return text
    return parse


def _correlate(text: str) -> str:
    rates = shapes.parse_correlate(text)
    if not all(0 <= r <= 1 for r in rates.values()):
        raise ValueError(text)
    return text


# --- digits ------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import (
        load_digits,  # bundled with scikit-learn: no download; imported late (slow)
    )

    return load_digits()


DIGIT_PLACES = ("centre", "random")


def build_digits(split: str, size: int, limit: int | None, place: str = "centre") -> ImageData:
    """sklearn's digits (16 grey levels, bright ink on black), bilinearly upscaled, grey -> RGB; a fixed
    seeded 80/20 train/test split. `place="random"` draws each digit at its own scale (45-80% of the side)
    and position on the black canvas, the same for a given digit every time: raw pixels, which compare
    images point by point, then no longer recognise a digit that moved, and features must."""
    d = _digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    test = np.zeros(len(order), bool)
    test[order[: round(0.2 * len(order))]] = True
    idx = np.flatnonzero(test if split == "test" else ~test)
    if limit:
        idx = idx[balanced_pick(d.target[idx], limit)]
    x = torch.from_numpy(d.images[idx] * (255 / 16)).float()[:, None]
    if place == "random":
        x = _scatter(x, idx, size)
    elif size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    images = x.round().clamp(0, 255).byte().expand(-1, 3, -1, -1).contiguous()
    return ImageData(images=images, labels=torch.from_numpy(d.target[idx]).long(),
                     class_names=[str(i) for i in range(10)], names=[f"digits/{i:04d}" for i in idx])


def _scatter(x: torch.Tensor, idx: np.ndarray, size: int) -> torch.Tensor:
    """Each digit (N, 1, 8, 8) scaled and placed at random on a black size x size canvas, drawn from the
    digit's own index (the same place every time, whatever else is loaded)."""
    out = torch.zeros(len(x), 1, size, size)
    for i, j in enumerate(idx):
        rng = np.random.default_rng([7, int(j)])
        s = int(rng.integers(round(0.45 * size), round(0.8 * size) + 1))
        top, left = (int(v) for v in rng.integers(0, size - s + 1, 2))
        out[i, :, top:top + s, left:left + s] = F.interpolate(x[i:i + 1], size=(s, s), mode="bilinear",
                                                              align_corners=False)
    return out


# --- photos ------------------------------------------------------------------------------------------

def photo_dir() -> Path:
    """skimage/data inside the installed package, found without importing skimage (slow) or fetching."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the photos need scikit-image: pip install scikit-image")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def build_photos(split: str, size: int, limit: int | None) -> ImageData:
    """The bundled photographs, unlabelled; both splits hold all of them (there are only nine)."""
    files = [photo_dir() / f for f in PHOTOS if (photo_dir() / f).exists()][:limit]
    if not files:
        raise UserError(f"no photos found in {photo_dir()}: reinstall scikit-image")
    images, _, kept = decode_files(files, size)
    return ImageData(images=images, labels=torch.full((len(kept),), -1, dtype=torch.int64), class_names=[],
                     names=[f"photos/{files[i].stem}" for i in kept], skipped=len(files) - len(kept))


BUILTINS = {
    "shapes": Builtin(
        "Procedural scenes of 1-4 textured shapes with masks and factors; label = the main shape "
        "(options: n, n_test, size, seed, scene=easy (one large solid shape on a plain background) or cluttered, "
        "n_objects=1-4, correlate=color@0.9, classes=circle+triangle, conflict=1)",
        build_shapes, 32,
        {"n": _natural, "n_test": _natural, "seed": _natural, "n_objects": _objects, "correlate": _correlate,
         "classes": _classes, "conflict": _natural, "scene": _one_of(shapes.SCENES)}, sizes=(32, 224)),
    "digits": Builtin("scikit-learn's 1,797 handwritten digits (8x8, upscaled), 10 classes (option: place=random "
                      "scales and moves each digit on its canvas)", build_digits, 32, {"place": _one_of(DIGIT_PLACES)}),
    "photos": Builtin("scikit-image's nine bundled colour photographs, unlabelled (for the Look page)",
                      build_photos, 224),
}
