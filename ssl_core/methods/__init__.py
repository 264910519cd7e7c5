"""The method registry: name -> class, for everything the trainer trains (kind "ssl", "classifier", "sae").
Adding a method is one file and one line here."""

from ssl_core.errors import UserError
from ssl_core.methods.barlow_twins import BarlowTwins, MixedBarlowTwins
from ssl_core.methods.base import Method
from ssl_core.methods.base import method_params as _params
from ssl_core.methods.byol import BYOL
from ssl_core.methods.classifier import Classifier
from ssl_core.methods.dino import DINO
from ssl_core.methods.ijepa import IJEPA
from ssl_core.methods.mae import MAE
from ssl_core.methods.mmc import MMC
from ssl_core.methods.moco import MoCoV3
from ssl_core.methods.rotnet import RotNet
from ssl_core.methods.simclr import SimCLR
from ssl_core.methods.sit import SiT
from ssl_core.methods.vicreg import VICReg
from ssl_core.methods.sae import SAETask

METHODS: dict[str, type[Method]] = {m.name: m for m in (
    SimCLR, MoCoV3, BYOL, BarlowTwins, MixedBarlowTwins, VICReg, DINO, MAE, IJEPA, RotNet, SiT, MMC, Classifier, SAETask)}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_params(name: str) -> list[tuple[str, object, str]]:
    """(parameter, default, one sentence) for each hyper-parameter of a method."""
    return _params(get_method(name))


def build_method(name: str, backbone, args: dict | None = None) -> Method:
    """The method `name` on `backbone`, its hyper-parameters checked (see `Method.create`)."""
    return get_method(name).create(backbone, args)
