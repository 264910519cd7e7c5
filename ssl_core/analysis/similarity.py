"""Prompt-patch similarity (the MMC paper's zero-shot protocol, in DINO practice).

An image of any size is scaled (aspect kept) so that it holds about as many patches as the model's
own resolution, rounded to whole patches, optionally padded; a `Frame` records that mapping, so a
click at pixel (x, y) of the *original* image finds the patch that contains it, and a map over the
patch grid comes back to the original pixels. Patch features (the last block's tokens without CLS and
registers, or a layer's attention keys) are L2-normalised once per image and model; a click then
costs one matrix product, a bilinear upsampling and a threshold.

Decision rule: several positive clicks take the maximum over their (upsampled) maps and keep the
pixels above a threshold (a number, or Otsu's threshold on the positive map). Negative clicks only
remove pixels: a pixel stays where it is above the threshold AND closer to a positive prompt than to
every negative one. So the threshold always means the same thing, and a negative click can never add
background. (Pure nearest-prototype, positive > negative with no threshold, grew the masks instead: on
the 328 Weizmann horses, one positive click at the most interior pixel and one negative at the most
interior background pixel, shipped model at 128 px, mean Jaccard was 0.410 against 0.423 for the positive
click alone; this rule gives 0.481 with Otsu.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ssl_core.data import IMAGENET
from ssl_core.devices import autocast
from ssl_core.errors import UserError

FEATURES = ("tokens", "keys")
DEFAULT_THRESHOLD = 0.5  # a cosine similarity; the fixed rule (Otsu adapts to each map)


# ---- geometry: original pixels <-> model input <-> patch grid --------------------------------------

@dataclass(frozen=True)
class Frame:
    """An image of `width` x `height` pixels resized to `rw` x `rh` (the model sees that), then padded
    right and bottom to `pw` x `ph`, a whole number of `patch`-pixel patches."""

    width: int
    height: int
    rw: int
    rh: int
    pw: int
    ph: int
    patch: int

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch grid over the padded input."""
        return self.ph // self.patch, self.pw // self.patch

    @property
    def content_grid(self) -> tuple[int, int]:
        """(rows, columns) of patches that hold some of the image (the rest is padding)."""
        return math.ceil(self.rh / self.patch), math.ceil(self.rw / self.patch)

    def check_point(self, x: float, y: float) -> None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise UserError(f"point ({x:g}, {y:g}) is outside the {self.width}x{self.height} image: "
                            f"give X in 0..{self.width - 1} and Y in 0..{self.height - 1}")

    def patch_of(self, x: float, y: float) -> tuple[int, int]:
        """(row, column) of the patch holding pixel (x, y) of the original image (x to the right, y down)."""
        self.check_point(x, y)
        xs = (math.floor(x) + 0.5) * self.rw / self.width
        ys = (math.floor(y) + 0.5) * self.rh / self.height
        rows, cols = self.content_grid
        return min(int(ys // self.patch), rows - 1), min(int(xs // self.patch), cols - 1)

    def patch_centre(self, row: int, col: int) -> tuple[float, float]:
        """Centre of patch (row, col) in original-image pixel coordinates (clipped to the image)."""
        x = (col + 0.5) * self.patch * self.width / self.rw
        y = (row + 0.5) * self.patch * self.height / self.rh
        return min(x, self.width - 0.5), min(y, self.height - 0.5)

    def to_image(self, maps) -> np.ndarray:
        """Maps over the patch grid (..., rows, cols) -> (..., height, width) float32, bilinear.

        Upsampled to the padded input, cropped to the resized image, then resized to the original."""
        t = torch.as_tensor(np.asarray(maps, dtype=np.float32))
        lead = t.shape[:-2]
        t = t.reshape(1, -1, *t.shape[-2:])
        t = F.interpolate(t, size=(self.ph, self.pw), mode="bilinear", align_corners=False)[..., :self.rh, :self.rw]
        if (self.rh, self.rw) != (self.height, self.width):
            t = F.interpolate(t, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return t.reshape(*lead, self.height, self.width).numpy()

    def grid_fraction(self, mask: np.ndarray) -> np.ndarray:
        """Fraction of each patch covered by a boolean (height, width) mask, over the padded grid
        (padding counts as not covered)."""
        m = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
        if (self.rh, self.rw) != (self.height, self.width):
            m = F.interpolate(m, size=(self.rh, self.rw), mode="bilinear", align_corners=False)
        m = F.pad(m, (0, self.pw - self.rw, 0, self.ph - self.rh))
        return F.avg_pool2d(m, self.patch)[0, 0].numpy()


def make_frame(width: int, height: int, patch: int, size: int, pad: bool = False) -> Frame:
    """How to feed a `width` x `height` image to a model with `patch`-pixel patches at resolution `size`.

    The image is scaled, aspect kept, to about size x size pixels of area (as many patches as the
    model was trained on; position embeddings interpolate). Without `pad` each side is then rounded to
    whole patches (an aspect change under half a patch); with `pad` the scaled image is padded right
    and bottom up to whole patches instead.
    """
    if min(width, height) < 1:
        raise UserError(f"the image is {width}x{height} px: it has no pixels")
    if size < patch:
        raise UserError(f"input size {size} px is smaller than one {patch} px patch: use --size {patch * 8} or more")
    scale = size / math.sqrt(width * height)
    rw, rh = max(1, round(width * scale)), max(1, round(height * scale))
    if pad:
        pw, ph = math.ceil(rw / patch) * patch, math.ceil(rh / patch) * patch
    else:
        rw = pw = max(1, round(rw / patch)) * patch
        rh = ph = max(1, round(rh / patch)) * patch
    return Frame(width, height, rw, rh, pw, ph, patch)


PHOTO_SIZE = 224  # px: where a small model's patches start to resolve a photograph's objects


def suggested_size(meta: dict, width: int, height: int) -> int:
    """The input size to open a `width` x `height` image at: the checkpoint's `recommended_size` if its
    metadata holds one; else PHOTO_SIZE for an image larger than the training size (a model trained at
    128 px sees an 854x480 photo as only 6x11 patches; the shipped card measures better masks at 224);
    else the training size."""
    native = int(meta["arch"].get("img_size", PHOTO_SIZE))
    if meta.get("recommended_size"):
        return int(meta["recommended_size"])
    return max(native, PHOTO_SIZE) if max(width, height) > native else native


def check_image(image: np.ndarray, patch: int) -> np.ndarray:
    """An (H, W, 3) uint8 array, at least one patch on each side; a one-line UserError otherwise."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise UserError(f"expected an RGB image (height, width, 3), got an array of shape {a.shape}")
    h, w = a.shape[:2]
    if min(h, w) < patch:
        raise UserError(f"the image is only {w}x{h} px, smaller than one {patch} px patch of this model: "
                        "use a larger image")
    return a.astype(np.uint8, copy=False)


def model_input(image: np.ndarray, frame: Frame, normalization: dict | None = None) -> torch.Tensor:
    """(H, W, 3) uint8 -> normalised (1, 3, ph, pw) float32, resized (bicubic, antialiased) and padded
    with zeros (the mean colour after normalisation)."""
    norm = normalization or IMAGENET
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if img.size != (frame.rw, frame.rh):
        img = img.resize((frame.rw, frame.rh), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div_(255)
    x = (x - torch.tensor(norm["mean"]).view(3, 1, 1)) / torch.tensor(norm["std"]).view(3, 1, 1)
    return F.pad(x, (0, frame.pw - frame.rw, 0, frame.ph - frame.rh))[None]


# ---- features ---------------------------------------------------------------------------------------

@dataclass
class PatchFeatures:
    """Patch features of one image: `grid` (rows, cols, D) float32 as the model gives them, `unit` the
    same L2-normalised, and the `frame` that maps them to the image's pixels."""

    grid: np.ndarray
    frame: Frame
    feature: str = "tokens"
    layer: int = -1
    unit: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        g = torch.from_numpy(np.ascontiguousarray(self.grid, dtype=np.float32))
        self.unit = F.normalize(g, dim=-1).numpy()


def _model_patch(model) -> int:
    return int(getattr(model, "patch_size", 16))


def grid_features(model, x: torch.Tensor, layer: int = -1, feature: str = "tokens") -> torch.Tensor:
    """Patch features (B, rows, cols, D) of a normalised input batch: block `layer`'s output tokens
    without CLS and registers, or that block's attention keys (all heads concatenated). Differentiable."""
    if feature not in FEATURES:
        raise UserError(f"unknown feature {feature!r}: use tokens or keys")
    item = model.forward_intermediates(x, [layer], keys=feature == "keys")[0]
    return item["keys"] if feature == "keys" else item["patch"]


INTERACTIVE_THREADS = 1
"""Threads for one image's forward pass. A batch of one gives intra-op threads little to share, and on a
busy 2-core machine their barriers stall: ViT-S/16 at 224 px took 250-330 ms with one thread and bfloat16,
3-9 s with two (load average 12, bench/look_speed.py). None keeps torch's setting."""


class _threads:
    def __init__(self, n: int | None):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n and torch.get_num_threads() != self.n:
            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.old is not None:
            torch.set_num_threads(self.old)


@torch.no_grad()
def extract_patch_features(model, image: np.ndarray, normalization: dict | None = None, size: int | None = None,
                           layer: int = -1, feature: str = "tokens", bf16: bool = False,
                           pad: bool = False, threads: int | None = INTERACTIVE_THREADS) -> PatchFeatures:
    """Features of one (H, W, 3) uint8 image, fed at `size` (default: the model's own resolution), on
    `threads` CPU threads (see INTERACTIVE_THREADS)."""
    patch = _model_patch(model)
    image = check_image(image, patch)
    model.check_layer(layer)
    frame = make_frame(image.shape[1], image.shape[0], patch, int(size or model.img_size), pad)
    device = next(model.parameters()).device
    x = model_input(image, frame, normalization).to(device)
    with autocast(device, bf16), _threads(threads if device.type == "cpu" else None):
        g = grid_features(model, x, layer, feature)[0]
    rows, cols = frame.grid
    if tuple(g.shape[:2]) != (rows, cols):  # e.g. a ResNet whose stride does not tile exactly
        g = F.interpolate(g.permute(2, 0, 1)[None].float(), size=(rows, cols), mode="bilinear",
                          align_corners=False)[0].permute(1, 2, 0)
    return PatchFeatures(g.float().cpu().numpy(), frame, feature, layer)


# ---- similarity and decision ------------------------------------------------------------------------

def prompt_vectors(feats: PatchFeatures, points) -> np.ndarray:
    """Unit feature vectors (n, D) of the patches under the clicked pixels [(x, y), ...]."""
    idx = [feats.frame.patch_of(x, y) for x, y in points]
    return np.stack([feats.unit[r, c] for r, c in idx]) if idx else np.zeros((0, feats.unit.shape[-1]), np.float32)


def grid_similarity(unit: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """Cosine similarity of each prompt (n, D) to every patch of a unit grid (rows, cols, D) -> (n, rows, cols)."""
    prompts = np.asarray(prompts, dtype=np.float32)
    if prompts.shape[-1] != unit.shape[-1]:
        raise UserError(f"prompt features have {prompts.shape[-1]} dimensions but these patches have "
                        f"{unit.shape[-1]}: use the same model, layer and feature for both")
    return np.einsum("hwd,nd->nhw", unit, prompts)


def similarity_map(feats: PatchFeatures, prompts: np.ndarray) -> np.ndarray:
    """Best similarity to any of the prompts, upsampled to the image: (H, W) float32 (-inf if none)."""
    if len(prompts) == 0:
        return np.full((feats.frame.height, feats.frame.width), -np.inf, np.float32)
    return feats.frame.to_image(grid_similarity(feats.unit, prompts)).max(axis=0)


def otsu_threshold(values, bins: int = 256) -> float:
    """Otsu's threshold (maximal between-class variance) of an array; foreground is `values > t`.

    Same rule as scikit-image's threshold_otsu: the centre of the best histogram bin."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if not np.isfinite(v).all():
        v = v[np.isfinite(v)]
    if v.size == 0:
        raise UserError("Otsu's threshold needs at least one finite value")
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return float(lo)
    idx = ((v - lo) * (bins / (hi - lo))).astype(np.int32)  # bincount: several times faster than histogram
    hist = np.bincount(np.minimum(idx, bins - 1), minlength=bins).astype(np.float64)
    edges = np.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = np.cumsum(hist[::-1])[::-1]
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.cumsum((hist * centres)[::-1]) / np.maximum(w1[::-1], 1))[::-1]
    between = w0[:-1] * w1[1:] * (m0[:-1] - m1[1:]) ** 2
    return float(centres[:-1][np.argmax(between)])


def parse_threshold(text) -> float | str:
    """'otsu' or a number (a cosine similarity, -1..1)."""
    if isinstance(text, str) and text.strip().lower() == "otsu":
        return "otsu"
    try:
        t = float(text)
    except (TypeError, ValueError):
        raise UserError(f"threshold {text!r} is neither a number nor 'otsu': try 0.5 or otsu") from None
    if not -1 <= t <= 1:
        raise UserError(f"threshold {t:g} is outside -1..1, the range of a cosine similarity")
    return t


def decide(positive: np.ndarray, negative: np.ndarray | None = None, threshold="otsu") -> tuple[np.ndarray, float]:
    """(mask, threshold used): positive > threshold (a number, or Otsu's threshold of the positive map),
    and, with negatives, also positive > negative (a negative click only removes pixels)."""
    t = otsu_threshold(positive) if parse_threshold(threshold) == "otsu" else parse_threshold(threshold)
    mask = positive > t
    if negative is not None:
        mask &= positive > negative
    return mask, float(t)


@dataclass
class Segmentation:
    positive: np.ndarray  # (H, W) best similarity to a positive prompt
    negative: np.ndarray | None  # (H, W) best similarity to a negative prompt, or None
    mask: np.ndarray  # (H, W) bool
    threshold: float  # the threshold applied to `positive`
    patches: list = field(default_factory=list)  # [(row, col)] of the positive clicks

    @property
    def removed(self) -> float:
        """Fraction of the image above the threshold that negative clicks took out of the mask."""
        return float(((self.positive > self.threshold) & ~self.mask).mean())


def segment(feats: PatchFeatures, positives, negatives=(), threshold="otsu") -> Segmentation:
    """Mask of one image from clicks [(x, y), ...] in its original pixels."""
    positives, negatives = list(positives), list(negatives)
    if not positives:
        raise UserError("give at least one positive point (X,Y) on the object")
    pos = similarity_map(feats, prompt_vectors(feats, positives))
    neg = similarity_map(feats, prompt_vectors(feats, negatives)) if negatives else None
    mask, t = decide(pos, neg, threshold)
    return Segmentation(pos, neg, mask, t, [feats.frame.patch_of(x, y) for x, y in positives])


def segment_with_prompts(feats: PatchFeatures, pos_prompts: np.ndarray, neg_prompts=None,
                         threshold="otsu") -> Segmentation:
    """Co-segmentation: the prompt vectors of clicks on another image, applied to this one."""
    pos = similarity_map(feats, pos_prompts)
    neg = similarity_map(feats, neg_prompts) if neg_prompts is not None and len(neg_prompts) else None
    mask, t = decide(pos, neg, threshold)
    return Segmentation(pos, neg, mask, t)


def parse_point(text: str) -> tuple[float, float]:
    """'X,Y' -> (x, y) in pixels."""
    try:
        x, y = (float(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(f"point {text!r} is not X,Y in pixels: write e.g. --point 120,80") from None
    return x, y
