"""DINO (Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021)."""

import torch

from ssl_core.data import ViewConfig
from ssl_core.losses.dino import dino_loss, update_center
from ssl_core.methods.base import (
    AT_LEAST_ONE, BLUR_MIN_SIZE, FRACTION, MOMENTUM_DOC, Method, NON_NEGATIVE, POSITIVE, StepOutput, ema_update, frozen_copy,
)
from ssl_core.models.heads import DINOHead


def local_crop_size(size: int, patch: int) -> int:
    """DINO's 96/224 local-crop side, rounded to whole patches (at least two)."""
    return max(2 * patch, round(size * 96 / 224 / patch) * patch)


def warmup_value(start: float, end: float, warmup: float, progress: float) -> float:
    """Linear from `start` to `end` over the first `warmup` of training, then `end` (DINO's teacher
    temperature schedule, per epoch in the official code, here per step)."""
    return end if progress >= warmup else start + (end - start) * progress / warmup


class DINO(Method):
    """DINO as the official code (main_dino.py), at classroom sizes. Two schedules of the code are options,
    as fractions of training instead of epochs: the teacher temperature's linear warm-up from
    `warmup_teacher_temp` to `teacher_temp` over `teacher_temp_warmup` (the paper: 0.04 to 0.07 over the first
    30 of 300 epochs, 0.1; the code's default: none) and freezing the head's last layer for the first
    `freeze_last_layer` (the code's default: 1 epoch of 100, 0.01). Frozen, the last layer gets zero
    gradients rather than none (so DistributedDataParallel needs no search for unused parameters): AdamW's
    moments stay zero, and the weight decay it still applies to the weight-normalised direction v leaves
    the layer unchanged (W = g v / ||v||, g fixed)."""

    name = "dino"
    description = "Self-distillation: a student matches an EMA teacher's centred, sharpened output across crops."
    paper = "Caron, Touvron, Misra, Jegou, Mairal, Bojanowski, Joulin. Emerging Properties in Self-Supervised " \
            "Vision Transformers. ICCV 2021"
    param_docs = {
        "out_dim": "Number of prototypes K the head's softmax runs over.",
        "student_temp": "Student softmax temperature.",
        "teacher_temp": "Teacher softmax temperature after its warm-up; lower than the student's, so the teacher "
                        "sharpens.",
        "warmup_teacher_temp": "Teacher temperature at the start of its warm-up (the paper: 0.04 up to 0.07).",
        "teacher_temp_warmup": "Fraction of training over which the teacher temperature rises linearly from "
                               "warmup_teacher_temp to teacher_temp (0: no warm-up; the paper: 30 of 300 epochs).",
        "freeze_last_layer": "Fraction of training during which the head's last layer is not trained (the code: "
                             "the first epoch), which stabilises the start.",
        "center_momentum": "Momentum of the centre subtracted from teacher outputs (centring prevents collapse).",
        "momentum": f"Starting EMA momentum of the teacher ({MOMENTUM_DOC}); it follows a cosine schedule to 1.",
        "n_local": "Number of small local crops the student sees besides the two global crops.",
        "center": "Subtract the running centre from teacher outputs; switch off to see collapse.",
    }
    param_checks = {"out_dim": AT_LEAST_ONE, "student_temp": POSITIVE, "teacher_temp": POSITIVE,
                    "warmup_teacher_temp": POSITIVE, "teacher_temp_warmup": FRACTION, "freeze_last_layer": FRACTION,
                    "center_momentum": FRACTION, "momentum": FRACTION, "n_local": NON_NEGATIVE}

    def __init__(self, backbone, out_dim: int = 4096, student_temp: float = 0.1, teacher_temp: float = 0.04,
                 warmup_teacher_temp: float = 0.04, teacher_temp_warmup: float = 0.0, freeze_last_layer: float = 0.01,
                 center_momentum: float = 0.9, momentum: float = 0.996, n_local: int = 6, center: bool = True):
        super().__init__(backbone)
        self.head = DINOHead(backbone.embed_dim, out_dim)
        self.teacher_backbone, self.teacher_head = frozen_copy(backbone), frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, out_dim))
        # Training progress, as last passed to after_step: saved with the run, so a resumed run's first step
        # uses the same temperature and freeze as it would have without the stop.
        self.register_buffer("progress", torch.zeros(()))
        self.student_temp, self.teacher_temp = student_temp, teacher_temp
        self.warmup_teacher_temp, self.teacher_temp_warmup = warmup_teacher_temp, teacher_temp_warmup
        self.freeze_last_layer = freeze_last_layer
        self.center_momentum, self.base_momentum = center_momentum, momentum
        self.n_local, self.use_center = n_local, center
        self.views = self.view_configs(backbone.img_size, getattr(backbone, "patch_size", 4))
        for p in self.head.last_layer.parameters():
            if p.requires_grad:
                p.register_hook(self._last_layer_grad)

    def _last_layer_grad(self, grad):
        return torch.zeros_like(grad) if float(self.progress) < self.freeze_last_layer else grad

    def current_teacher_temp(self) -> float:
        return warmup_value(self.warmup_teacher_temp, self.teacher_temp, self.teacher_temp_warmup, float(self.progress))

    @classmethod
    def view_configs(cls, size, patch: int = 4):
        common = dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, gray_p=0.2)
        blur = size >= BLUR_MIN_SIZE  # DINO trained at 224 px
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
        t_temp = self.current_teacher_temp()
        loss = dino_loss(student_out, teacher_out, center, self.student_temp, t_temp)
        update_center(self.center, teacher_out, self.center_momentum)
        t_probs = torch.softmax((teacher_out[0].float() - center) / t_temp, dim=-1)
        entropy = -(t_probs * torch.log(t_probs + 1e-12)).sum(-1).mean()
        return StepOutput(loss, {"teacher_entropy": entropy.item(), "teacher_temp": t_temp}, student_out[0])

    def after_step(self, progress):
        self.progress.fill_(progress)
        m = self.teacher_momentum(progress)
        ema_update(self.teacher_backbone, self.backbone, m)
        ema_update(self.teacher_head, self.head, m)

    @property
    def eval_backbone(self):
        return self.teacher_backbone  # DINO evaluates the teacher (sec. 3.1 of the paper)

    @property
    def backbone_prefix(self):
        return "teacher_backbone."
