"""Procedural scenes: one to four textured shapes on a background, with masks and every factor.

Each scene comes from its own seed (seed, split, index), so scene i is the same whatever else is
generated, at any resolution: every random draw happens in normalised coordinates, before any
pixel exists. Drawing is numpy over a 2x supersampled pixel grid (inside tests in each object's own
rotated frame), averaged down to the output size: cheap anti-aliasing, and pixel coverage for the
masks.

The label is the *main* object's shape. The main object is drawn last, so it is on top and never
occluded, and the others are drawn at 40-75% of its radius, so it is also the largest.

Two settings (`scene`): "cluttered" (the default and the hard one: one to four objects of three sizes
anywhere, on plain, gradient, noise or striped backgrounds) and "easy", the classroom's first scenes: one
large solid object (EASY_RADIUS, its diameter about 70% of the side) near the centre on a plain background,
so a few CPU minutes of training are enough to learn shape. Solid, because a texture is the easier feature:
SimCLR's instance discrimination learns it and colour first and shape barely (a linear probe on its
features after 3 minutes on textured easy scenes read texture at 0.96, shape at 0.44; bench/results/
lessons.md), the feature suppression of Chen, Luo and Li, "Intriguing Properties of Contrastive Losses",
NeurIPS 2021. Both settings draw the same random stream, so scene i of each has the same shape, colour and
rotation.
"""

import functools
import math

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "heart", "hexagon", "ring")
COLORS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")
TEXTURES = ("solid", "stripes", "dots", "checker")
BACKGROUNDS = ("plain", "gradient", "noise", "stripes")
SIZES = {"small": 0.15, "medium": 0.21, "large": 0.28}  # main object's radius, as a fraction of the side
RGB = {"red": (225, 45, 45), "orange": (245, 140, 25), "yellow": (240, 215, 40), "green": (50, 180, 70),
       "cyan": (40, 205, 215), "blue": (50, 90, 230), "purple": (140, 60, 205), "pink": (245, 125, 190)}
# Factors the shortcut studies can tie to the label, and the values they can take.
FACTORS = {"color": COLORS, "size": tuple(SIZES), "texture": TEXTURES, "background": BACKGROUNDS}
SPLITS = {"train": 0, "test": 1}
# Where the main object sits, on a 3 x 3 grid of the image, and how many objects a scene holds.
POSITIONS = tuple(f"{r}-{c}" for r in ("top", "middle", "bottom") for c in ("left", "centre", "right"))
# Every factor a probe or a dictionary can be scored against, with its vocabulary (codes index these).
VOCAB = {"shape": SHAPES, **FACTORS, "position": POSITIONS, "objects": tuple(str(i) for i in range(1, 9))}
SUPERSAMPLE = 2
TEXTURE_FREQ = 2.0  # texture cells per unit of object radius
REACH = 1.45  # every shape lies within this many radii of its centre
SCENES = ("cluttered", "easy")
EASY_RADIUS = 0.36  # the easy scene's object radius, as a fraction of the side


def tied_value(factor: str, label: int, classes: int = len(SHAPES)) -> str:
    """The value of `factor` tied to `label` by `correlate`: a fixed map that spreads the labels over the
    factor's values, so with two classes they get its two ends (small / large, red / pink)."""
    values = FACTORS[factor]
    return values[round(label * (len(values) - 1) / max(1, classes - 1))]


def position_name(x: float, y: float) -> str:
    """The cell of a 3 x 3 grid that holds the normalised point (x, y) (x to the right, y down)."""
    row, col = min(2, int(y * 3)), min(2, int(x * 3))
    return POSITIONS[3 * row + col]


def factor_codes(factors: list[list[dict]]) -> dict[str, np.ndarray]:
    """Integer codes (N,) of every factor in VOCAB for scenes' factor lists (main object first)."""
    values = {
        "shape": [f[0]["shape"] for f in factors],
        **{name: [f[0][name] for f in factors] for name in FACTORS},
        "position": [position_name(f[0]["x"], f[0]["y"]) for f in factors],
        "objects": [str(len(f)) for f in factors],
    }
    return {name: np.array([VOCAB[name].index(v) for v in vals], np.int64) for name, vals in values.items()}


def parse_correlate(correlate) -> dict[str, float]:
    """"color@0.9" or "color@0.9+size@0.5" (or a dict, or None) -> {"color": 0.9, ...}."""
    if not correlate:
        return {}
    if isinstance(correlate, dict):
        return {k: float(v) for k, v in correlate.items()}
    out = {}
    for part in str(correlate).split("+"):
        factor, _, rate = part.partition("@")
        out[factor.strip()] = float(rate) if rate else 1.0
    return out


# --- shapes: inside tests in the object's frame (radius 1, pointing up) --------------------------------

def _star(u, v, n: int, inner: float, outer: float = 1.0):
    """Inside a regular star with n tips; a regular polygon when inner = outer * cos(pi / n).

    Fold the angle into one half-wedge (tip on the x axis), then test which side of the edge from
    the tip to the inner vertex the point is on.
    """
    wedge = 2 * math.pi / n
    a = np.abs((np.arctan2(u, -v) + wedge / 2) % wedge - wedge / 2)
    rho = np.hypot(u, v)
    qx, qy = rho * np.cos(a), rho * np.sin(a)
    bx, by = inner * math.cos(wedge / 2), inner * math.sin(wedge / 2)
    return (bx - outer) * qy - by * (qx - outer) >= 0


def _heart(u, v):
    x, y = 1.1 * u, -1.1 * v + 0.15
    return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0


INSIDE = {
    "circle": lambda u, v: u * u + v * v <= 1,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.85,
    "triangle": lambda u, v: _star(u, v + 0.2, 3, 0.6, 1.2),
    "star": lambda u, v: _star(u, v, 5, 0.48, 1.15),
    "cross": lambda u, v: ((np.abs(u) <= 0.33) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.33) & (np.abs(u) <= 1)),
    "heart": _heart,
    "hexagon": lambda u, v: _star(u, v, 6, math.cos(math.pi / 6)),
    "ring": lambda u, v: (u * u + v * v <= 1) & (u * u + v * v >= 0.3),
}

TEXTURE = {  # True where the texture's darker shade shows
    "solid": lambda u, v: np.zeros(np.broadcast_shapes(u.shape, v.shape), bool),
    "stripes": lambda u, v: np.floor(u * TEXTURE_FREQ) % 2 == 0,
    "dots": lambda u, v: (u * TEXTURE_FREQ % 1 - 0.5) ** 2 + (v * TEXTURE_FREQ % 1 - 0.5) ** 2 < 0.1,
    "checker": lambda u, v: (np.floor(u * TEXTURE_FREQ) + np.floor(v * TEXTURE_FREQ)) % 2 == 0,
}


@functools.lru_cache(maxsize=16)
def _lerp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights that resample a 1-D signal linearly (pixel centres aligned)."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), i0), 1 - (x - i0))
    np.add.at(w, (np.arange(n_out), i1), x - i0)
    return w


def _background(kind: str, p: dict, S: int) -> np.ndarray:
    """(S, S, 3) float32: the colours c1 -> c2 mixed by a field t in [0, 1] that depends on the kind."""
    c1, c2 = p["c1"].astype(np.float32), p["c2"].astype(np.float32)
    if kind == "plain":
        return np.broadcast_to(c1, (S, S, 3)).copy()
    c = (np.arange(S, dtype=np.float32) + 0.5) / S
    along = c[None, :] * math.cos(p["angle"]) + c[:, None] * math.sin(p["angle"])  # along a random direction
    if kind == "gradient":
        t = (along - along.min()) / (along.max() - along.min())
    elif kind == "noise":  # smooth clouds: an 8x8 random grid resampled to any size
        w = _lerp_matrix(S, p["grid"].shape[0])
        t = (w @ p["grid"] @ w.T).astype(np.float32)
    else:  # stripes
        t = np.floor(along * p["freq"]) % 2
    return c1 + t[..., None] * (c2 - c1)


@functools.lru_cache(maxsize=8)
def _grid(size: int):
    """Sample coordinates in [0, 1] of the supersampled grid (row, column), and each sample's pixel index."""
    S = size * SUPERSAMPLE
    c = (np.arange(S) + 0.5) / S
    p = np.arange(S) // SUPERSAMPLE
    return c[None, :], c[:, None], p[:, None] * size + p[None, :]


def _span(centre: float, radius: float, n: int) -> tuple[int, int]:
    """Grid indices [lo, hi) that cover centre +- REACH * radius."""
    return max(0, int((centre - REACH * radius) * n)), min(n, math.ceil((centre + REACH * radius) * n))


def _place(rng, shape: str, color: str, texture: str, size: str, radius: float, lo: float, hi: float) -> dict:
    """One object, its centre uniform in [lo, hi]^2 (normalised), with a random rotation and shade."""
    return {"shape": shape, "color": color, "texture": texture, "size": size, "radius": radius,
            "x": rng.uniform(lo, hi), "y": rng.uniform(lo, hi), "rotation": rng.uniform(0, 360),
            "shade": rng.uniform(0.85, 1.0)}


def _size_name(radius_frac: float) -> str:
    return min(SIZES, key=lambda k: abs(SIZES[k] - radius_frac))


def render_scene(index: int, size: int, seed: int = 0, correlate=None, n_objects=(1, 4), split: str = "train",
                 classes: tuple[str, ...] = SHAPES, conflict: bool = False, scene: str = "cluttered") -> dict:
    """Scene `index` at `size` px: dict(image uint8 (H,W,3), masks uint8 (H,W) instance ids (main = 1),
    semantic uint8 (H,W) shape id + 1, factors [main object's dict, others...], label = main shape id).

    `correlate` ("color@0.9", "color@0.9+size@0.5", or {"color": 0.9}) makes the main object's factor
    take the value tied to the label (`tied_value`) with that probability, else a random value. All
    random draws happen whatever `correlate` is, so changing it changes only the tied factors.
    `classes` names the shapes the main object can take, in label order (the shortcut studies use two);
    with `conflict`, a tied factor shows the value tied to another label ((label + 1) mod K) instead:
    the shortcut lies. `scene="easy"` draws one large solid object on a plain background (see the module
    docstring): its size, background and texture factors are then always "large", "plain" and "solid".
    """
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}: use {' or '.join(SCENES)}")
    easy = scene == "easy"
    rng = np.random.default_rng([seed, SPLITS[split], index])
    corr = parse_correlate(correlate)
    lo, hi = n_objects
    k = int(rng.integers(lo, hi + 1))
    k = 1 if easy else k  # drawn all the same: both settings share one random stream

    # Scene-level draws, always in this order (the stream must not depend on options).
    label = int(rng.integers(len(SHAPES))) % len(classes)
    shown = (label + 1) % len(classes) if conflict else label  # the label the tied factors point to
    value = {}
    for factor, values in FACTORS.items():
        free, u = values[int(rng.integers(len(values)))], rng.random()
        tied = factor in corr and (conflict or u < corr[factor])
        value[factor] = tied_value(factor, shown, len(classes)) if tied else free
    bg = {"c1": rng.uniform(15, 115, 3), "c2": rng.uniform(15, 115, 3), "angle": rng.uniform(0, 2 * math.pi),
          "freq": rng.uniform(3, 8), "grid": rng.random((8, 8))}  # muted colours, so objects stand out
    if easy:
        value.update(size="large", background="plain", texture="solid")

    radius = (EASY_RADIUS if easy else SIZES[value["size"]]) * rng.uniform(0.9, 1.1)
    objects = [_place(rng, classes[label], value["color"], value["texture"], value["size"], radius, radius, 1 - radius)]
    pick = lambda values: values[int(rng.integers(len(values)))]
    for _ in range(k - 1):
        r = radius * rng.uniform(0.4, 0.75)
        objects.append(_place(rng, pick(SHAPES), pick(COLORS), pick(TEXTURES), _size_name(r), r, 0.1, 0.9))

    # Pixels: supersampled grid in [0, 1], objects painted back to front (the main object last).
    S = size * SUPERSAMPLE
    xs, ys, pixel = _grid(size)
    img = _background(value["background"], bg, S)
    ids = np.zeros((S, S), np.uint8)
    for oid in list(range(2, k + 1)) + [1]:
        o = objects[oid - 1]
        # Only the object's bounding box (every shape fits within REACH radii of its centre).
        r = o["radius"]
        (i0, i1), (j0, j1) = _span(o["y"], r, S), _span(o["x"], r, S)
        if i1 <= i0 or j1 <= j0:
            continue
        a = math.radians(o["rotation"])
        dx, dy = (xs[:, j0:j1] - o["x"]) / r, (ys[i0:i1] - o["y"]) / r
        u, v = math.cos(a) * dx + math.sin(a) * dy, -math.sin(a) * dx + math.cos(a) * dy
        inside = INSIDE[o["shape"]](u, v)
        col = np.array(RGB[o["color"]], np.float32) * o["shade"]
        paint = np.where(TEXTURE[o["texture"]](u, v)[..., None], 0.45 * col, col)
        box = img[i0:i1, j0:j1]
        box[inside] = paint[inside]
        ids[i0:i1, j0:j1][inside] = oid

    # Average down; each pixel's id is the one covering most of its samples.
    img = sum(img[i::SUPERSAMPLE, j::SUPERSAMPLE] for i in range(SUPERSAMPLE) for j in range(SUPERSAMPLE))
    img = img / SUPERSAMPLE**2
    cover = np.bincount((pixel * (k + 1) + ids).ravel(), minlength=size * size * (k + 1))
    masks = cover.reshape(size, size, k + 1).argmax(-1).astype(np.uint8)
    lut = np.array([0] + [SHAPES.index(o["shape"]) + 1 for o in objects], np.uint8)
    pixels = np.bincount(masks.ravel(), minlength=k + 1)
    factors = [{**{key: val for key, val in o.items() if key != "shade"}, "background": value["background"],
                "pixels": int(pixels[i + 1])} for i, o in enumerate(objects)]
    image = img.round().astype(np.uint8)
    return {"image": image, "masks": masks, "semantic": lut[masks], "factors": factors, "label": label}
