"""MMC (Wu, Mo, Awais, Atito, Feng, Kittler, "Masked Momentum Contrastive Learning for Zero-shot Semantic
Understanding", arXiv 2308.11448, 2023)."""

import torch

from ssl_core.data import ViewConfig
from ssl_core.losses import dino_loss, infonce, masked_l1
from ssl_core.losses.dino import update_center
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, MOMENTUM_DOC, Method, NON_NEGATIVE, POSITIVE, StepOutput, ema_update, frozen_copy
from ssl_core.methods.dino import local_crop_size
from ssl_core.methods.sit import gmml_corrupt, unpatchify
from ssl_core.models.heads import DINOHead, mlp

LOCALS = ("crops", "patches")


class MMC(Method):
    """Three terms, as the paper names them; how they are wired is our reading of the paper:

    - Masked image modelling (local similarity): the student sees group-masked (GMML-corrupted) global
      views and rebuilds the corrupted pixels from its patch tokens (L1 on corrupted pixels).
    - Momentum self-distillation, global to local: an EMA teacher sees the clean global views; its
      centred, sharpened prototype distribution is the target for the student's other global view and
      for every "local" feature (DINO's cross-entropy, with centring).
    - Global contrast: the student's projected CLS of one global view must pick the teacher's projected
      CLS of the other view of the same image among the batch's (InfoNCE).

    What the paper's "local features" are is ambiguous: DINO's small local crops (`local="crops"`, the
    default, as DINO's global-to-local multi-crop), or, more likely for a method aimed at zero-shot
    segmentation, the student's patch tokens (`local="patches"`): every patch token of the student's
    corrupted global views, through the same head, is matched to the teacher's global distribution of
    each view, so each patch must carry its image's semantics; no local crops are drawn then.
    """

    name = "mmc"
    description = "Masked image modelling + momentum self-distillation (global to local crops, or patches) + global contrast."
    paper = "Wu, Mo, Awais, Atito, Feng, Kittler. Masked Momentum Contrastive Learning for Zero-shot Semantic " \
            "Understanding. arXiv 2308.11448, 2023"
    param_docs = {
        "corrupt_ratio": "Fraction of each global view corrupted (in blocks of patches) for masked image modelling.",
        "out_dim": "Number of prototypes of the distillation head.",
        "n_local": "Number of small local crops distilled from the teacher's global views (local = crops).",
        "student_temp": "Student softmax temperature of the distillation term.",
        "teacher_temp": "Teacher softmax temperature of the distillation term.",
        "temperature": "Temperature of the global contrastive term.",
        "momentum": f"Starting EMA momentum of the teacher ({MOMENTUM_DOC}); it follows a cosine schedule to 1.",
        "local": "What the teacher's global view is distilled into: crops (small local crops, as DINO) or patches "
                 "(the student's patch tokens of its global views).",
        "recon_weight": "Weight of the masked-image-modelling term.",
        "distill_weight": "Weight of the self-distillation term.",
        "contrast_weight": "Weight of the global contrastive term.",
    }
    param_checks = {"corrupt_ratio": (lambda v: 0 < v < 1, "must be between 0 and 1"), "out_dim": AT_LEAST_ONE, "n_local": NON_NEGATIVE, "student_temp": POSITIVE, "teacher_temp": POSITIVE, "temperature": POSITIVE, "momentum": FRACTION, "recon_weight": NON_NEGATIVE, "distill_weight": NON_NEGATIVE, "contrast_weight": NON_NEGATIVE,
                    "local": (lambda v: v in LOCALS, "must be crops or patches")}
    masking = "block"
    mask_ratio = 0.5
    needs_vit = True

    def __init__(self, backbone, corrupt_ratio: float = 0.5, out_dim: int = 1024, n_local: int = 2,
                 student_temp: float = 0.1, teacher_temp: float = 0.04, temperature: float = 0.2,
                 momentum: float = 0.996, recon_weight: float = 1.0, distill_weight: float = 1.0,
                 contrast_weight: float = 1.0, local: str = "crops"):
        super().__init__(backbone)
        d, p = backbone.embed_dim, backbone.patch_size
        self.corrupt_ratio, self.base_momentum, self.local = corrupt_ratio, momentum, local
        self.n_local = n_local if local == "crops" else 0
        self.student_temp, self.teacher_temp, self.temperature = student_temp, teacher_temp, temperature
        self.weights = (recon_weight, distill_weight, contrast_weight)
        self.head = DINOHead(d, out_dim)
        self.projector = mlp(d, 512, 128, layers=2)
        self.recon_head = torch.nn.Linear(d, p * p * 3)
        self.teacher_backbone = frozen_copy(backbone)
        self.teacher_head, self.teacher_projector = frozen_copy(self.head), frozen_copy(self.projector)
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.views = self.view_configs(backbone.img_size, p)

    @classmethod
    def view_configs(cls, size, patch: int = 4):
        common = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "gray_p": 0.2}
        return {"global": ViewConfig(size=size, scale=(0.4, 1.0), **common),
                "local": ViewConfig(size=local_crop_size(size, patch), scale=(0.05, 0.4), **common)}

    def forward(self, batch, generator):
        p = self.backbone.patch_size
        crops = self.multi_crop(batch["images"], self.views["global"], self.views["local"], self.n_local, generator)
        g = torch.cat(crops[:2])
        with torch.no_grad():
            t_cls = self.teacher_backbone(g)
            t_out = self.teacher_head(t_cls).chunk(2)
            k1, k2 = self.teacher_projector(t_cls).chunk(2)
        corrupted, pix = gmml_corrupt(g, p, self.corrupt_ratio, generator)
        tokens = self.backbone.forward_tokens(corrupted)
        s_cls = tokens[:, 0]
        recon = unpatchify(self.recon_head(tokens[:, self.backbone.num_prefix_tokens:]), p,
                           (g.shape[2] // p, g.shape[3] // p))
        l_rec = masked_l1(recon, g, pix)
        s_cls_all = [s_cls] + ([self.backbone(torch.cat(crops[2:]))] if self.n_local else [])
        s_out = list(self.head(torch.cat(s_cls_all)).chunk(2 + self.n_local))
        if self.local == "patches":  # (B, N, K) per global view: every patch token against each teacher view
            s_out += list(self.head(tokens[:, self.backbone.num_prefix_tokens:]).chunk(2))
        l_dis = dino_loss(s_out, t_out, self.center, self.student_temp, self.teacher_temp)
        update_center(self.center, t_out)
        q1, q2 = self.projector(s_cls).chunk(2)
        l_con = (infonce(q1, k2, self.temperature, True) + infonce(q2, k1, self.temperature, True)) / 2
        w_rec, w_dis, w_con = self.weights
        loss = w_rec * l_rec + w_dis * l_dis + w_con * l_con
        logs = {"recon_loss": l_rec.item(), "distill_loss": l_dis.item(), "contrastive_loss": l_con.item()}
        return StepOutput(loss, logs, q1)

    def after_step(self, progress):
        m = self.teacher_momentum(progress)
        for t, s in ((self.teacher_backbone, self.backbone), (self.teacher_head, self.head),
                     (self.teacher_projector, self.projector)):
            ema_update(t, s, m)

    @property
    def eval_backbone(self):
        return self.teacher_backbone

    @property
    def backbone_prefix(self):
        return "teacher_backbone."
