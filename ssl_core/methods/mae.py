"""MAE (He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022)."""

import torch
import torch.nn as nn

from ssl_core.data import ViewConfig, random_patch_mask
from ssl_core.losses.mae import mae_loss, patchify
from ssl_core.methods.base import AT_LEAST_ONE, Method, StepOutput
from ssl_core.models.pos_embed import use_sincos
from ssl_core.models.vit import Block

POS_EMBEDS = ("sincos", "learned")


class MAE(Method):
    """MAE as the official code (facebookresearch/mae) at classroom sizes: random masking of 75% of the
    patches, an encoder that sees only the visible ones, a light decoder, the per-patch normalised pixel
    target, fixed 2-D sin-cos position embeddings in the encoder and the decoder (`pos_embed`), and AdamW
    with betas (0.9, 0.95) (main_pretrain.py; `adam_betas`, which the trainer reads)."""

    name = "mae"
    description = "Masked image modelling: hide 75% of the patches and reconstruct their pixels."
    paper = "He, Chen, Xie, Li, Dollar, Girshick. Masked Autoencoders Are Scalable Vision Learners. CVPR 2022"
    param_docs = {
        "mask_ratio": "Fraction of patches hidden from the encoder.",
        "decoder_dim": "Width of the small decoder that reconstructs the hidden patches.",
        "decoder_depth": "Number of transformer blocks in the decoder.",
        "norm_pix": "Reconstruct each patch normalised by its own mean and variance (the paper's better target).",
        "pos_embed": "sincos: fixed 2-D sine-cosine position embeddings, as the paper; learned: trained ones.",
    }
    param_checks = {"mask_ratio": (lambda v: 0 < v < 1, "must be between 0 and 1"), "decoder_dim": AT_LEAST_ONE,
                    "decoder_depth": AT_LEAST_ONE, "pos_embed": (lambda v: v in POS_EMBEDS, "must be sincos or learned")}
    masking = "random"
    mask_ratio = 0.75
    needs_vit = True
    adam_betas = (0.9, 0.95)  # main_pretrain.py: torch.optim.AdamW(param_groups, lr=args.lr, betas=(0.9, 0.95))

    def __init__(self, backbone, mask_ratio: float = 0.75, decoder_dim: int = 128, decoder_depth: int = 2,
                 norm_pix: bool = True, pos_embed: str = "sincos"):
        super().__init__(backbone)
        self.mask_ratio, self.norm_pix = mask_ratio, norm_pix
        grid = backbone.img_size // backbone.patch_size
        self.decoder_embed = nn.Linear(backbone.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, decoder_dim))
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, 4, 4.0, True) for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, backbone.patch_size ** 2 * 3)
        nn.init.normal_(self.mask_token, std=0.02)
        if pos_embed == "sincos":
            use_sincos(backbone.pos_embed, grid, cls_token=True)
            use_sincos(self.decoder_pos_embed, grid, cls_token=True)
        else:
            nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        self.view = self.view_configs(backbone.img_size)["view"]

    @classmethod
    def view_configs(cls, size):
        return {"view": ViewConfig(size=size, scale=(0.2, 1.0), jitter_p=0.0, gray_p=0.0)}

    def forward(self, batch, generator):
        x = self.augment(batch["images"], self.view, generator)
        B, p = x.shape[0], self.backbone.patch_size
        gh, gw = x.shape[2] // p, x.shape[3] // p
        mask = random_patch_mask(B, (gh, gw), self.mask_ratio, generator=generator, device=x.device)
        # Keep the visible patches in order; the encoder never sees mask tokens (the paper's key speed-up).
        keep = (~mask).nonzero()[:, 1].reshape(B, -1)
        latent = self.backbone.forward_tokens(x, keep=keep)
        pred = self.decode(latent, keep, gh * gw)
        loss = mae_loss(pred, patchify(x, p), mask, self.norm_pix)
        # No projection: the collapse indicators watch the encoding the decoder reads (its visible tokens).
        return StepOutput(loss, {}, latent[:, self.backbone.num_prefix_tokens:].mean(1))

    def decode(self, latent, keep, n_patches):
        """Scatter the encoded visible tokens back on the grid, fill the rest with the mask token, decode."""
        B = latent.shape[0]
        prefix = self.backbone.num_prefix_tokens
        y = self.decoder_embed(latent)
        tokens = self.mask_token.to(y.dtype).expand(B, n_patches, -1).clone()
        tokens.scatter_(1, keep.unsqueeze(-1).expand(-1, -1, y.shape[-1]), y[:, prefix:])
        y = torch.cat([y[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            y, _ = blk(y)
        return self.decoder_pred(self.decoder_norm(y))[:, 1:]
