import torch
import torch.nn.functional as F

from ssl_core.distributed import all_reduce_mean


def dino_loss(student_outputs: list[torch.Tensor], teacher_outputs: list[torch.Tensor], center: torch.Tensor,
              student_temp: float = 0.1, teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's self-distillation loss (Caron et al. 2021, eq. 1-3 and Algorithm 1).

    P_t = softmax((g_t(x) - c) / t_t) for each global view seen by the teacher, P_s = softmax(g_s(x') / t_s)
    for every view seen by the student; the loss is the cross-entropy H(P_t, P_s) = -sum P_t log P_s,
    averaged over all (teacher view, student view) pairs of different views and over the batch.
    The student's first len(teacher_outputs) views must be the same global views the teacher saw.
    A student view may also be (B, N, K), N local tokens of each image (MMC's patch tokens): each token
    is matched to its image's teacher distribution, and the pair's term is the mean over the tokens.
    """
    up = lambda x: x.to(torch.promote_types(x.dtype, torch.float32))  # float32 at least (bf16 autocast)
    teacher = [F.softmax((up(t) - center) / teacher_temp, dim=-1) for t in teacher_outputs]
    student = [F.log_softmax(up(s) / student_temp, dim=-1) for s in student_outputs]
    total, pairs = 0.0, 0
    for i, p_t in enumerate(teacher):
        for j, log_p_s in enumerate(student):
            if i == j:
                continue
            target = p_t.unsqueeze(1) if log_p_s.dim() == 3 else p_t
            total = total + torch.sum(-target * log_p_s, dim=-1).mean()
            pairs += 1
    return total / pairs


@torch.no_grad()
def update_center(center: torch.Tensor, teacher_outputs: list[torch.Tensor], momentum: float = 0.9) -> None:
    """Centring (Caron et al. 2021, eq. 4): c <- m c + (1 - m) mean of the teacher outputs over the batch,
    all-reduced over ranks under torchrun (DINOLoss.update_center), so every rank keeps the same centre."""
    batch = torch.cat(teacher_outputs)
    batch_center = all_reduce_mean(batch.to(torch.promote_types(batch.dtype, torch.float32)).mean(dim=0, keepdim=True))
    center.mul_(momentum).add_(batch_center, alpha=1 - momentum)
