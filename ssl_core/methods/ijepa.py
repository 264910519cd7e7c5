"""I-JEPA (Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive
Architecture", CVPR 2023)."""

import math

import torch
from torch import nn

from ssl_core.data import ViewConfig
from ssl_core.losses import ijepa_loss
from ssl_core.distributed import sharded
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, MOMENTUM_DOC, NON_NEGATIVE, Method, StepOutput, ema_update, frozen_copy, linear_momentum
from ssl_core.models.pos_embed import use_sincos
from ssl_core.models.vit import Block

POS_EMBEDS = ("sincos", "learned")


def block_size(grid: tuple[int, int], scale: float, aspect: float) -> tuple[int, int]:
    """(h, w) of a rectangle of `scale` of the grid's area and aspect ratio `aspect` (h / w), inside the grid."""
    gh, gw = grid
    area = scale * gh * gw
    return max(1, min(gh, round(math.sqrt(area * aspect)))), max(1, min(gw, round(math.sqrt(area / aspect))))


def sample_block(batch: int, grid: tuple[int, int], size: tuple[int, int], generator, device) -> torch.Tensor:
    """(batch, h*w) bool: one rectangle of `size` per row, the same size in every row (as I-JEPA's collator
    samples one size per batch), at a random place."""
    (gh, gw), (h, w) = grid, size
    r = torch.rand(batch, 2, generator=generator, device=device)
    top = torch.floor(r[:, 0] * (gh - h + 1)).view(-1, 1, 1)
    left = torch.floor(r[:, 1] * (gw - w + 1)).view(-1, 1, 1)
    ys = torch.arange(gh, device=device).view(1, gh, 1)
    xs = torch.arange(gw, device=device).view(1, 1, gw)
    return ((ys >= top) & (ys < top + h) & (xs >= left) & (xs < left + w)).flatten(1)


def ijepa_masks(batch: int, grid: tuple[int, int], n_targets: int = 4, target_scale=(0.15, 0.2),
                target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), min_keep: int = 10, generator=None,
                device=None, tries: int = 20):
    """I-JEPA's multi-block masking (Assran et al. 2023, sec. 3 and Fig. 4; the official collator,
    src/masks/multiblock.py).

    Returns the indices of the context patches (B, Kc) and of each target block (B, M, Kt). Target
    blocks: M rectangles of scale in `target_scale` and aspect in `target_aspect` (one size drawn per
    batch, so every row has Kt patches). Context: one near-full block (aspect 1) minus every target
    patch, so the task is not trivial. As the collator, a row whose context keeps `min_keep` patches or
    fewer (its test is `len(mask) > min_keep`) draws its context block again at another place; after
    `tries` failures the last target stops being cut out of it, then the one before, and so on (the
    collator's "decreasing acceptable regions"), which always ends: the block alone is large enough.
    On grids too small for the configured minimum it is lowered to a quarter of the grid (and below the
    context block's own size): 10 of a 4x4 grid's 16 patches would mostly be met by giving up the cuts.
    Rows are cut to the smallest context size in the batch (as the collator, but keeping a random subset
    rather than the first patches). Every draw comes from `generator`, and the number of draws depends on
    every row: under torchrun call it through `sharded`, so every rank draws the global batch's masks.
    The minimum is asked of the context only: the collator asks it of the targets too, which on small grids
    (3 x 3 targets of an 8 x 8 grid) it could never meet. Not copied either: blocks one patch short of the
    grid's side and never on its last row or column (its `randint(0, height - h)`), and one uniform number
    shared by a block's scale and aspect.
    """
    u = torch.rand(4, generator=generator, device=device).tolist()
    t_scale = target_scale[0] + (target_scale[1] - target_scale[0]) * u[0]
    log_a = math.log(target_aspect[0]) + (math.log(target_aspect[1]) - math.log(target_aspect[0])) * u[1]
    c_scale = context_scale[0] + (context_scale[1] - context_scale[0]) * u[2]
    t_size, c_size = block_size(grid, t_scale, math.exp(log_a)), block_size(grid, c_scale, 1.0)
    targets = torch.stack([sample_block(batch, grid, t_size, generator, device)
                           for _ in range(n_targets)], dim=1)  # (B, M, N)
    n = grid[0] * grid[1]
    keep = min(min_keep, n // 4, c_size[0] * c_size[1] - 1)  # each context keeps more than `keep` patches
    # allowed[r]: the patches outside every target but the last r (r = n_targets: anywhere).
    allowed = [~targets[:, :n_targets - r].any(1) for r in range(n_targets + 1)]
    context = sample_block(batch, grid, c_size, generator, device) & allowed[0]
    attempt = 1
    while True:
        short = context.sum(1) <= keep
        if not bool(short.any()):
            break
        again = sample_block(batch, grid, c_size, generator, device) & allowed[min(attempt // tries, n_targets)]
        context = torch.where(short.unsqueeze(1), again, context)
        attempt += 1
    k_ctx = int(context.sum(1).min())
    noise = torch.rand(context.shape, generator=generator, device=device)
    ctx_idx = torch.where(context, noise, 2.0).argsort(1)[:, :k_ctx].sort(1).values
    k_t = t_size[0] * t_size[1]
    tgt_idx = targets.float().argsort(dim=2, descending=True, stable=True)[..., :k_t].sort(2).values
    return ctx_idx, tgt_idx


class IJEPA(Method):
    """I-JEPA as the official code (facebookresearch/ijepa) at classroom sizes: multi-block masks with the
    collator's minimum context (`ijepa_masks`), fixed 2-D sin-cos position embeddings in the encoder and the
    predictor (`pos_embed`), a target encoder whose momentum rises linearly from `momentum` to 1 (the code's
    ema = [0.996, 1.0]; lowered in short runs, see `budget_momentum`), the smooth-L1 loss on layer-normalised
    targets, AdamW with PyTorch's betas (the code's `torch.optim.AdamW(param_groups)`).

    Stated differences: our ViT has a CLS token, which the official encoder lacks; the loss never trains it,
    so the target encoder is evaluated on its mean-pooled patch tokens (`pool`), as the paper evaluates. The
    code's learning-rate and weight-decay schedules (warm-up from 2e-4, weight decay 0.04 to 0.4) are the
    trainer's, which has one of each for every method.
    """

    name = "ijepa"
    description = "Predict, in embedding space, what an EMA target encoder sees in hidden blocks from a context block."
    paper = "Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun, Ballas. Self-Supervised Learning from " \
            "Images with a Joint-Embedding Predictive Architecture. CVPR 2023"
    param_docs = {
        "n_targets": "Number of target blocks the predictor must fill in per image.",
        "target_scale": "Largest area of a target block, as a fraction of the image (the smallest is 3/4 of it).",
        "pred_dim": "Width of the narrow predictor transformer.",
        "pred_depth": "Number of transformer blocks in the predictor.",
        "momentum": f"Starting EMA momentum of the target encoder ({MOMENTUM_DOC}); it rises linearly to 1.",
        "loss": "smooth_l1 (the official code) or mse (the paper's squared distance).",
        "min_keep": "A context must keep more than this many patches, or it is drawn again (the official "
                    "collator's 10; lowered on grids too small for it).",
        "pos_embed": "sincos: fixed 2-D sine-cosine position embeddings, as the paper; learned: trained ones.",
    }
    param_checks = {"n_targets": AT_LEAST_ONE, "target_scale": (lambda v: 0 < v < 0.5, "must be between 0 and 0.5"),
                    "pred_dim": AT_LEAST_ONE, "pred_depth": AT_LEAST_ONE, "momentum": FRACTION,
                    "loss": (lambda v: v in ("smooth_l1", "mse"), "must be smooth_l1 or mse"),
                    "min_keep": NON_NEGATIVE, "pos_embed": (lambda v: v in POS_EMBEDS, "must be sincos or learned")}
    masking = "block"
    mask_ratio = 0.6
    needs_vit = True
    pool = "mean"  # the loss never trains the CLS token; the paper evaluates mean-pooled patch tokens

    def __init__(self, backbone, n_targets: int = 4, target_scale: float = 0.2, pred_dim: int = 96,
                 pred_depth: int = 2, momentum: float = 0.996, loss: str = "smooth_l1", min_keep: int = 10,
                 pos_embed: str = "sincos"):
        super().__init__(backbone)
        self.n_targets, self.target_scale, self.loss_kind = n_targets, target_scale, loss
        self.base_momentum, self.min_keep = momentum, min_keep
        grid = backbone.img_size // backbone.patch_size
        if pos_embed == "sincos":
            use_sincos(backbone.pos_embed, grid, cls_token=True)  # before the target encoder is copied from it
        self.target_encoder = frozen_copy(backbone)
        self.predictor_embed = nn.Linear(backbone.embed_dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_dim))
        self.predictor_pos_embed = nn.Parameter(torch.zeros(1, grid * grid, pred_dim))
        self.predictor_blocks = nn.ModuleList(Block(pred_dim, max(1, pred_dim // 32), 4.0, True)
                                              for _ in range(pred_depth))
        self.predictor_norm = nn.LayerNorm(pred_dim, eps=1e-6)
        self.predictor_proj = nn.Linear(pred_dim, backbone.embed_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        if pos_embed == "sincos":
            use_sincos(self.predictor_pos_embed, grid, cls_token=False)
        else:
            nn.init.trunc_normal_(self.predictor_pos_embed, std=0.02)
        self.view = self.view_configs(backbone.img_size)["view"]

    @classmethod
    def view_configs(cls, size):
        # I-JEPA uses no hand-crafted view augmentations beyond a random resized crop (scale 0.3-1).
        return {"view": ViewConfig(size=size, scale=(0.3, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0)}

    def predict(self, context: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> torch.Tensor:
        """Context tokens (B, Kc, D) at ctx_idx -> predicted target tokens (B, M, Kt, D)."""
        B, M, Kt = tgt_idx.shape
        pos = self.predictor_pos_embed.expand(B, -1, -1)

        def gather(idx):
            return torch.gather(pos, 1, idx.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))

        x = self.predictor_embed(context) + gather(ctx_idx)
        x = x.repeat_interleave(M, dim=0)  # (B*M, Kc, d): one pass per target block
        t_pos = gather(tgt_idx.reshape(B, M * Kt)).reshape(B * M, Kt, -1)
        y = torch.cat([x, self.mask_token.to(x.dtype) + t_pos], dim=1)
        for blk in self.predictor_blocks:
            y, _ = blk(y)
        y = self.predictor_proj(self.predictor_norm(y[:, -Kt:]))
        return y.reshape(B, M, Kt, -1)

    def forward(self, batch, generator):
        x = self.augment(batch["images"], self.view, generator)
        B, p = x.shape[0], self.backbone.patch_size
        grid = (x.shape[2] // p, x.shape[3] // p)
        scales = (0.75 * self.target_scale, self.target_scale)
        # The sizes are drawn per batch: under torchrun every rank draws the global batch's masks.
        ctx_idx, tgt_idx = sharded(lambda b: ijepa_masks(b, grid, self.n_targets, scales, min_keep=self.min_keep,
                                                         generator=generator, device=x.device), B)
        prefix = self.backbone.num_prefix_tokens
        with torch.no_grad():
            t_tokens = self.target_encoder.forward_tokens(x)
            patches = t_tokens[:, prefix:]
            M, Kt = tgt_idx.shape[1:]
            target = torch.gather(patches, 1, tgt_idx.reshape(B, M * Kt, 1).expand(-1, -1, patches.shape[-1]))
        context = self.backbone.forward_tokens(x, keep=ctx_idx)[:, prefix:]
        pred = self.predict(context, ctx_idx, tgt_idx)
        loss = ijepa_loss(pred.reshape(B, M * Kt, -1), target, self.loss_kind)
        return StepOutput(loss, {}, pred.mean(dim=(1, 2)))

    def after_step(self, progress):
        ema_update(self.target_encoder, self.backbone, self.teacher_momentum(progress, linear_momentum))

    @property
    def eval_backbone(self):
        return self.target_encoder  # I-JEPA evaluates the target encoder

    @property
    def backbone_prefix(self):
        return "target_encoder."
