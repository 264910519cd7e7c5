"""The data layer: built-in datasets and image folders decoded once into uint8 tensors, and batched
augmentations that turn them into views on the training device."""

from ssl_core.data.augment import (
    IMAGENET,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ViewConfig,
    augment,
    multi_crop,
    normalize,
)
from ssl_core.data.imagedata import ImageData, TensorData
from ssl_core.data.images import load_image
from ssl_core.data.load import builtin_names, data_key, data_plan, load_data
from ssl_core.data.masking import block_patch_mask, random_patch_mask

__all__ = [
    "IMAGENET", "IMAGENET_MEAN", "IMAGENET_STD", "ImageData", "TensorData", "ViewConfig", "augment", "block_patch_mask", "builtin_names",
    "data_key", "data_plan", "load_data", "load_image", "multi_crop", "normalize", "random_patch_mask",
]
