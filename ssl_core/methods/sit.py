"""SiT (Atito, Awais, Kittler, "SiT: Self-supervised vIsion Transformer", arXiv 2104.03602)."""

import torch
from torch import nn

from ssl_core.data import ViewConfig, block_patch_mask
from ssl_core.losses import infonce, masked_l1
from ssl_core.distributed import gather_inputs, rank_world, sharded_rand
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, MOMENTUM_DOC, Method, NON_NEGATIVE, POSITIVE, StepOutput, ema_update, frozen_copy
from ssl_core.models.heads import mlp


def unpatchify(tokens: torch.Tensor, patch: int, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h*w, patch*patch*C) -> (B, C, h*patch, w*patch), row-major patches (inverse of `patchify`)."""
    B, _, P = tokens.shape
    gh, gw = grid
    c = P // (patch * patch)
    x = tokens.reshape(B, gh, gw, patch, patch, c)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(B, c, gh * patch, gw * patch)


def gmml_corrupt(x: torch.Tensor, patch: int, ratio: float, generator, noise_p: float = 0.5):
    """Group masked model learning corruption (SiT sec. 3.1): blocks of patches covering `ratio` of each
    image are replaced, per image, either by Gaussian noise (probability `noise_p`) or by the same
    region of another image of the batch. Returns the corrupted images and the (B, 1, H, W) pixel mask
    (1 = corrupted) the reconstruction loss is computed on."""
    B, _, H, W = x.shape
    grid = (H // patch, W // patch)
    m = block_patch_mask(B, grid, ratio, generator=generator, device=x.device).view(B, 1, *grid)
    pix = m.repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    noise = sharded_rand(B, *x.shape[1:], generator=generator, device=x.device, normal=True).to(x.dtype)
    use_noise = sharded_rand(B, 1, 1, 1, generator=generator, device=x.device) < noise_p
    rank = rank_world()[0]
    other = gather_inputs(x).roll(1, dims=0)[rank * B:(rank + 1) * B]  # the previous image of the global batch
    fill = torch.where(use_noise, noise, other)
    return torch.where(pix, fill, x), pix


class SiT(Method):
    """SiT as the paper's later version (arXiv 2104.03602 v3, 2022) describes it, in our reading: group masked
    model learning (the corrupted patches rebuilt from the patch tokens, L1 on the corrupted pixels) and a
    contrastive term on the CLS token against an EMA teacher that sees the clean views; no rotation task.

    Not the first version (v1, the code of Sara-Ahmed/SiT), which also predicted each view's rotation from a
    token of its own (a second, contrastive token beside it), contrasted the two views of one network with
    NT-Xent (t = 0.5), took the L1 loss over the whole image, and weighted the three terms by learned
    uncertainties (exp(-s) L + s / 2). Rotation is left out rather than predicted from the CLS token: one
    token asked both to encode the rotation and to be invariant to it is neither version.
    """

    name = "sit"
    description = "Rebuild group-masked patches and contrast the CLS with an EMA teacher (SiT's later version: no rotation)."
    paper = "Atito, Awais, Kittler. SiT: Self-supervised vIsion Transformer. arXiv 2104.03602, 2021"
    param_docs = {
        "corrupt_ratio": "Fraction of each image corrupted (in blocks of patches) for the reconstruction task.",
        "temperature": "Temperature of the contrastive term.",
        "proj_dim": "Size of the contrastive projection.",
        "proj_hidden": "Width of the contrastive projector's hidden layer.",
        "momentum": f"Starting EMA momentum of the teacher ({MOMENTUM_DOC}); it follows a cosine schedule to 1.",
        "contrast_weight": "Weight of the contrastive term.",
        "recon_weight": "Weight of the L1 reconstruction term.",
    }
    param_checks = {"corrupt_ratio": (lambda v: 0 < v < 1, "must be between 0 and 1"), "temperature": POSITIVE,
                    "proj_dim": AT_LEAST_ONE, "proj_hidden": AT_LEAST_ONE, "momentum": FRACTION,
                    "contrast_weight": NON_NEGATIVE, "recon_weight": NON_NEGATIVE}
    masking = "block"
    mask_ratio = 0.5
    needs_vit = True

    def __init__(self, backbone, corrupt_ratio: float = 0.5, temperature: float = 0.2, proj_dim: int = 128,
                 proj_hidden: int = 512, momentum: float = 0.99, contrast_weight: float = 1.0,
                 recon_weight: float = 1.0):
        super().__init__(backbone)
        d, p = backbone.embed_dim, backbone.patch_size
        self.corrupt_ratio, self.temperature, self.base_momentum = corrupt_ratio, temperature, momentum
        self.weights = (contrast_weight, recon_weight)
        self.projector = mlp(d, proj_hidden, proj_dim, layers=2)
        self.recon_head = nn.Linear(d, p * p * 3)
        self.teacher_backbone, self.teacher_projector = frozen_copy(backbone), frozen_copy(self.projector)

    @classmethod
    def view_configs(cls, size):
        common = {"scale": (0.2, 1.0), "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1,
                  "gray_p": 0.2}
        return {"view 1": ViewConfig(size=size, **common), "view 2": ViewConfig(size=size, **common)}

    def forward(self, batch, generator):
        p = self.backbone.patch_size
        x = self.stacked_views(batch["images"], generator)
        corrupted, pix = gmml_corrupt(x, p, self.corrupt_ratio, generator)
        tokens = self.backbone.forward_tokens(corrupted)
        cls, patches = tokens[:, 0], tokens[:, self.backbone.num_prefix_tokens:]
        grid = (x.shape[2] // p, x.shape[3] // p)
        recon = unpatchify(self.recon_head(patches), p, grid)
        l_rec = masked_l1(recon, x, pix)
        with torch.no_grad():
            k1, k2 = self.teacher_projector(self.teacher_backbone(x)).chunk(2)
        q1, q2 = self.projector(cls).chunk(2)
        l_con = (infonce(q1, k2, self.temperature, True) + infonce(q2, k1, self.temperature, True)) / 2
        w_con, w_rec = self.weights
        loss = w_con * l_con + w_rec * l_rec
        return StepOutput(loss, {"contrastive_loss": l_con.item(), "recon_loss": l_rec.item()}, q1)

    def after_step(self, progress):
        m = self.teacher_momentum(progress)
        ema_update(self.teacher_backbone, self.backbone, m)
        ema_update(self.teacher_projector, self.projector, m)
