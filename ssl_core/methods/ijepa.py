"""I-JEPA (Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive
Architecture", CVPR 2023)."""

import math

import torch
from torch import nn

from ssl_core.data import ViewConfig
from ssl_core.losses import ijepa_loss
from ssl_core.distributed import sharded
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, Method, StepOutput, ema_momentum, ema_update, frozen_copy
from ssl_core.models.vit import Block


def sample_block(batch: int, grid: tuple[int, int], scale: float, aspect: float, generator, device) -> torch.Tensor:
    """(batch, h*w) bool: one rectangle per row of `scale` of the grid's area and aspect ratio `aspect`
    (h / w), the same size in every row (as I-JEPA's collator samples one size per batch), at a random place."""
    gh, gw = grid
    area = scale * gh * gw
    h = max(1, min(gh, round(math.sqrt(area * aspect))))
    w = max(1, min(gw, round(math.sqrt(area / aspect))))
    r = torch.rand(batch, 2, generator=generator, device=device)
    top = torch.floor(r[:, 0] * (gh - h + 1)).view(-1, 1, 1)
    left = torch.floor(r[:, 1] * (gw - w + 1)).view(-1, 1, 1)
    ys = torch.arange(gh, device=device).view(1, gh, 1)
    xs = torch.arange(gw, device=device).view(1, 1, gw)
    return ((ys >= top) & (ys < top + h) & (xs >= left) & (xs < left + w)).flatten(1)


def ijepa_masks(batch: int, grid: tuple[int, int], n_targets: int = 4, target_scale=(0.15, 0.2),
                target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), generator=None, device=None):
    """I-JEPA's multi-block masking (Assran et al. 2023, sec. 3 and Fig. 4).

    Returns the indices of the context patches (B, Kc) and of each target block (B, M, Kt). Target
    blocks: M rectangles of scale in `target_scale` and aspect in `target_aspect` (one size drawn per
    batch, so every row has Kt patches). Context: one near-full block (aspect 1) minus every target
    patch, so the task is not trivial; rows are cut to the smallest context size in the batch (as the
    official collator does, but keeping a random subset rather than the first patches).
    """
    u = torch.rand(4, generator=generator, device=device).tolist()
    t_scale = target_scale[0] + (target_scale[1] - target_scale[0]) * u[0]
    log_a = math.log(target_aspect[0]) + (math.log(target_aspect[1]) - math.log(target_aspect[0])) * u[1]
    c_scale = context_scale[0] + (context_scale[1] - context_scale[0]) * u[2]
    targets = torch.stack([sample_block(batch, grid, t_scale, math.exp(log_a), generator, device)
                           for _ in range(n_targets)], dim=1)  # (B, M, N)
    context = sample_block(batch, grid, c_scale, 1.0, generator, device) & ~targets.any(1)
    if int(context.sum(1).min()) == 0:  # degenerate draw: keep the patches outside the targets
        context = ~targets.any(1)
    k_ctx = int(context.sum(1).min())
    noise = torch.rand(context.shape, generator=generator, device=device)
    ctx_idx = torch.where(context, noise, 2.0).argsort(1)[:, :k_ctx].sort(1).values
    k_t = int(targets[0, 0].sum())
    tgt_idx = targets.float().argsort(dim=2, descending=True, stable=True)[..., :k_t].sort(2).values
    return ctx_idx, tgt_idx


class IJEPA(Method):
    name = "ijepa"
    description = "Predict, in embedding space, what an EMA target encoder sees in hidden blocks from a context block."
    paper = "Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun, Ballas. Self-Supervised Learning from " \
            "Images with a Joint-Embedding Predictive Architecture. CVPR 2023"
    param_docs = {
        "n_targets": "Number of target blocks the predictor must fill in per image.",
        "target_scale": "Largest area of a target block, as a fraction of the image (the smallest is 3/4 of it).",
        "pred_dim": "Width of the narrow predictor transformer.",
        "pred_depth": "Number of transformer blocks in the predictor.",
        "momentum": "Starting EMA momentum of the target encoder; it follows a cosine schedule to 1.",
        "loss": "smooth_l1 (the official code) or mse (the paper's squared distance).",
    }
    param_checks = {"n_targets": AT_LEAST_ONE, "target_scale": (lambda v: 0 < v < 0.5, "must be between 0 and 0.5"), "pred_dim": AT_LEAST_ONE, "pred_depth": AT_LEAST_ONE, "momentum": FRACTION, "loss": (lambda v: v in ("smooth_l1", "mse"), "must be smooth_l1 or mse")}
    masking = "block"
    mask_ratio = 0.6
    needs_vit = True
    pool = "mean"  # the loss never trains the CLS token; the paper evaluates mean-pooled patch tokens

    def __init__(self, backbone, n_targets: int = 4, target_scale: float = 0.2, pred_dim: int = 96,
                 pred_depth: int = 2, momentum: float = 0.996, loss: str = "smooth_l1"):
        super().__init__(backbone)
        self.n_targets, self.target_scale, self.loss_kind = n_targets, target_scale, loss
        self.base_momentum = momentum
        self.target_encoder = frozen_copy(backbone)
        grid = backbone.img_size // backbone.patch_size
        self.predictor_embed = nn.Linear(backbone.embed_dim, pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_dim))
        self.predictor_pos_embed = nn.Parameter(torch.zeros(1, grid * grid, pred_dim))
        self.predictor_blocks = nn.ModuleList(Block(pred_dim, max(1, pred_dim // 32), 4.0, True)
                                              for _ in range(pred_depth))
        self.predictor_norm = nn.LayerNorm(pred_dim, eps=1e-6)
        self.predictor_proj = nn.Linear(pred_dim, backbone.embed_dim)
        nn.init.normal_(self.mask_token, std=0.02)
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
        ctx_idx, tgt_idx = sharded(lambda b: ijepa_masks(b, grid, self.n_targets, scales, generator=generator,
                                                         device=x.device), B)
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
        ema_update(self.target_encoder, self.backbone, ema_momentum(self.base_momentum, progress))

    @property
    def eval_backbone(self):
        return self.target_encoder  # I-JEPA evaluates the target encoder

    @property
    def backbone_prefix(self):
        return "target_encoder."
