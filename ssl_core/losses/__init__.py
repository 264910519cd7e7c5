"""SSL losses as pure functions of tensors, one concept a file, the paper's equation in each docstring.

A researcher can use them alone: `from ssl_core.losses import nt_xent`.
"""

from ssl_core.losses.dino import dino_loss
from ssl_core.losses.mae import mae_loss
from ssl_core.losses.nt_xent import nt_xent

__all__ = ["dino_loss", "mae_loss", "nt_xent"]
