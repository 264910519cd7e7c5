"""The Look page's pieces: cached computation (`compute`), the images with their own sizes (`photos`) and
one module per view below the click view (co-segmentation, attention, PCA, attributions). The page
script, app/pages/look.py, puts them together."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Current:
    """What every Look view works on: the model, the image, the feature settings and the clicks so far."""

    ckpt: str
    stamp: float
    model: object
    meta: dict
    image: np.ndarray
    name: str
    key: str  # digest of the image's pixels
    size: int
    layer: int
    feature: str
    threshold: object  # a number or "otsu"
    cmap: str
    feats: object  # ssl_core.analysis.similarity.PatchFeatures of the image
    pos: list = field(default_factory=list)
    neg: list = field(default_factory=list)
    seg: object = None  # the Segmentation of the clicks, if any
    photo: object = None  # app.look.photos.Photo: the image with its own file's size and its mask, if any
    others: list = field(default_factory=list)  # the other uploaded Photos (a co-segmentation gallery)

    @property
    def is_vit(self) -> bool:
        return self.meta["arch"].get("name") == "vit"

    @property
    def depth(self) -> int:
        return int(self.meta["arch"].get("depth", 1))

    @property
    def norm(self) -> dict | None:
        return self.meta.get("normalization")
