"""SSL losses as pure functions of tensors, one concept a file, the paper's equation in each docstring.

A researcher can use them alone: `from ssl_core.losses import nt_xent`.
"""

from ssl_core.losses.barlow_twins import barlow_twins, cross_correlation
from ssl_core.losses.byol import byol_loss
from ssl_core.losses.dino import dino_loss
from ssl_core.losses.ijepa import ijepa_loss
from ssl_core.losses.infonce import infonce, moco_v3_loss
from ssl_core.losses.mae import mae_loss
from ssl_core.losses.mixed_barlow_twins import mix_bt_barlow_twins, mixed_barlow_twins_reg
from ssl_core.losses.nt_xent import nt_xent
from ssl_core.losses.reconstruction import masked_l1
from ssl_core.losses.vicreg import vicreg

__all__ = ["barlow_twins", "byol_loss", "cross_correlation", "dino_loss", "ijepa_loss", "infonce", "mae_loss",
           "masked_l1", "mix_bt_barlow_twins", "mixed_barlow_twins_reg", "moco_v3_loss", "nt_xent", "vicreg"]
