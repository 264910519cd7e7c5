"""Multilayer perceptrons on input vectors: the models of the shortcut study (a linear model is depth 0).

`forward(x)` gives the last hidden layer (B, hidden), the input itself at depth 0: the "embedding" a
classifier head reads, so a linear model is this network at depth 0 plus that head.
"""

import torch.nn as nn

from ssl_core.errors import UserError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 1, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}: use relu or tanh")
        if in_dim < 1 or hidden < 1 or depth < 0:
            raise UserError(f"an MLP needs in_dim and hidden >= 1 and depth >= 0 (got {in_dim}, {hidden}, {depth})")
        self.arch = dict(name="mlp", in_dim=in_dim, hidden=hidden, depth=depth, activation=activation)
        self.embed_dim = hidden if depth else in_dim
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(in_dim if i == 0 else hidden, hidden),
                                                  ACTIVATIONS[activation]()) for i in range(depth))

    def forward_intermediates(self, x, layers=(-1,), **_) -> list[dict]:
        """The output of each hidden layer in `layers` (-1: the last; the input at depth 0) as {"cls"}."""
        outs = [x]
        for layer in self.layers:
            outs.append(layer(outs[-1]))
        n = len(outs) - 1
        return [{"cls": outs[(i % n) + 1 if n else 0]} for i in layers]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
