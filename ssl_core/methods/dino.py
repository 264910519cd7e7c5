"""DINO (Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021)."""

import torch

from ssl_core.data import ViewConfig
from ssl_core.losses.dino import dino_loss, update_center
from ssl_core.methods.base import AT_LEAST_ONE, FRACTION, Method, NON_NEGATIVE, POSITIVE, StepOutput, ema_momentum, ema_update, frozen_copy
from ssl_core.models.heads import DINOHead


def local_crop_size(size: int, patch: int) -> int:
    """DINO's 96/224 local-crop side, rounded to whole patches (at least two)."""
    return max(2 * patch, round(size * 96 / 224 / patch) * patch)


class DINO(Method):
    name = "dino"
    description = "Self-distillation: a student matches an EMA teacher's centred, sharpened output across crops."
    paper = "Caron, Touvron, Misra, Jegou, Mairal, Bojanowski, Joulin. Emerging Properties in Self-Supervised " \
            "Vision Transformers. ICCV 2021"
    param_docs = {
        "out_dim": "Number of prototypes K the head's softmax runs over.",
        "student_temp": "Student softmax temperature.",
        "teacher_temp": "Teacher softmax temperature; lower than the student's, so the teacher sharpens.",
        "center_momentum": "Momentum of the centre subtracted from teacher outputs (centring prevents collapse).",
        "momentum": "Starting EMA momentum of the teacher; it follows a cosine schedule to 1.",
        "n_local": "Number of small local crops the student sees besides the two global crops.",
        "center": "Subtract the running centre from teacher outputs; switch off to see collapse.",
    }
    param_checks = {"out_dim": AT_LEAST_ONE, "student_temp": POSITIVE, "teacher_temp": POSITIVE, "center_momentum": FRACTION, "momentum": FRACTION, "n_local": NON_NEGATIVE}

    def __init__(self, backbone, out_dim: int = 4096, student_temp: float = 0.1, teacher_temp: float = 0.04,
                 center_momentum: float = 0.9, momentum: float = 0.996, n_local: int = 6, center: bool = True):
        super().__init__(backbone)
        self.head = DINOHead(backbone.embed_dim, out_dim)
        self.teacher_backbone, self.teacher_head = frozen_copy(backbone), frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.student_temp, self.teacher_temp = student_temp, teacher_temp
        self.center_momentum, self.base_momentum = center_momentum, momentum
        self.n_local, self.use_center = n_local, center
        self.views = self.view_configs(backbone.img_size, getattr(backbone, "patch_size", 4))

    @classmethod
    def view_configs(cls, size, patch: int = 4):
        common = dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, gray_p=0.2)
        blur = size >= 96  # blurring a 32 px image destroys it; DINO trained at 224 px
        return {
            "global 1": ViewConfig(size=size, scale=(0.4, 1.0), blur_p=1.0 if blur else 0.0, **common),
            "global 2": ViewConfig(size=size, scale=(0.4, 1.0), blur_p=0.1 if blur else 0.0, solarize_p=0.2,
                                   **common),
            "local": ViewConfig(size=local_crop_size(size, patch), scale=(0.05, 0.4), blur_p=0.5 if blur else 0.0,
                                **common),
        }

    def forward(self, batch, generator):
        v = self.views
        crops = self.multi_crop(batch["images"], [v["global 1"], v["global 2"]], v["local"], n_local=self.n_local,
                                generator=generator)
        with torch.no_grad():
            t_emb = self.teacher_backbone(torch.cat(crops[:2]))
            teacher_out = self.teacher_head(t_emb).chunk(2)
        # Views of one size share a forward pass (as DINO's MultiCropWrapper).
        s_emb = [self.backbone(torch.cat(crops[:2]))]
        if self.n_local:
            s_emb.append(self.backbone(torch.cat(crops[2:])))
        student_out = self.head(torch.cat(s_emb)).chunk(2 + self.n_local)
        center = self.center if self.use_center else torch.zeros_like(self.center)
        loss = dino_loss(student_out, teacher_out, center, self.student_temp, self.teacher_temp)
        update_center(self.center, teacher_out, self.center_momentum)
        t_probs = torch.softmax((teacher_out[0].float() - center) / self.teacher_temp, dim=-1)
        entropy = -(t_probs * torch.log(t_probs + 1e-12)).sum(-1).mean()
        return StepOutput(loss, {"teacher_entropy": entropy.item()}, student_out[0])

    def after_step(self, progress):
        m = ema_momentum(self.base_momentum, progress)
        ema_update(self.teacher_backbone, self.backbone, m)
        ema_update(self.teacher_head, self.head, m)

    @property
    def eval_backbone(self):
        return self.teacher_backbone  # DINO evaluates the teacher (sec. 3.1 of the paper)

    @property
    def backbone_prefix(self):
        return "teacher_backbone."
