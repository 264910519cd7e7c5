"""The feature store: run a model over a dataset once, keep what it saw in one safetensors layout.

`extract` is the batched forward pass (any layer; CLS, mean-pooled or patch tokens, attention keys) that
every caller uses; `store` writes and reads the one feature-file layout, and `dataset_features` answers
"these features of this model on this data" from the on-disk cache, running the model only for what is
missing. `python -m ssl_core features` writes the same layout, so a file exported there opens everywhere.
"""

from ssl_core.features.extract import TOKENS, extract
from ssl_core.features.store import Features, dataset_features, load_features, save_features

__all__ = ["TOKENS", "Features", "dataset_features", "extract", "load_features", "save_features"]
