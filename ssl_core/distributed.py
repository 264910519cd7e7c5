"""The distributed seam: what `torchrun` needs, and nothing more (after nanoGPT's DDP preamble).

`torchrun --nproc_per_node N -m ssl_core train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; `setup()` joins
the process group (gloo on CPUs, nccl on CUDA) and says which rank writes (rank 0, the master). A single
process is the world of one, and every helper here is then the identity.

Exactness: `--batch-size` is the global batch, each rank trains its slice of it, and every random draw
that is made per image (crops, colour jitter, masks) is drawn for the whole global batch on every rank,
which keeps its own rows (`sharded_rand`). So N processes train exactly the views one process would have
drawn; there is no seed offset. Losses that need the whole batch gather embeddings with `gather`, whose
backward sums the gradients of every rank (lightly's GatherLayer), DINO all-reduces its centre, and the
heads' BatchNorm becomes `SyncBatchNorm` (ours: torch's only runs on GPUs).
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

from ssl_core.errors import UserError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup(device_name: str = "auto") -> Dist:
    """Join the process group when started by torchrun (RANK in the environment); else the world of one."""
    if "RANK" not in os.environ:
        return Dist()
    rank, local, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, local, world)


def teardown(finished: bool = False) -> None:
    """Leave the process group. After a run every rank finished, meet first: a rank that destroys the group
    while another still has gloo work in flight can abort in C++ ("terminate called without an active
    exception", seen once in CI). After an error, leave at once: the other ranks may never arrive."""
    if dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sharded_rand(n: int, *shape, generator=None, device=None, normal: bool = False) -> torch.Tensor:
    """torch.rand((n, *shape)) for this rank's n rows of the global batch: the global batch's numbers are
    drawn on every rank from the same generator state, and each keeps its own slice."""
    rank, world = rank_world()
    draw = torch.randn if normal else torch.rand
    x = draw((n * world, *shape), generator=generator, device=device)
    return x[rank * n:(rank + 1) * n] if world > 1 else x


def sharded_randperm(n: int, generator=None, device=None) -> torch.Tensor:
    """A permutation of the global batch's n * world rows, the same on every rank."""
    _, world = rank_world()
    return torch.randperm(n * world, generator=generator, device=device)


class _Gather(torch.autograd.Function):
    """All-gather whose backward sums every rank's gradient for this rank's rows (lightly's GatherLayer)."""

    @staticmethod
    def forward(ctx, x):
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        n = grad.shape[0] // dist.get_world_size()
        return grad[dist.get_rank() * n:(dist.get_rank() + 1) * n]


def gather(x: torch.Tensor) -> torch.Tensor:
    """The global batch's rows of x (every rank's x, in rank order); differentiable; x itself in a world of one."""
    _, world = rank_world()
    return _Gather.apply(x) if world > 1 else x


def gather_inputs(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradients (for inputs, such as images another rank's rows are mixed with)."""
    _, world = rank_world()
    if world == 1:
        return x
    out = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of x over ranks (no gradient); x in a world of one."""
    _, world = rank_world()
    if world == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world


class _Sum(torch.autograd.Function):
    """All-reduce (sum) whose backward sums every rank's gradient too: d(sum_r x_r) / d x_s = 1 on every rank."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of x over ranks, differentiable (its backward sums the gradients of every rank)."""
    _, world = rank_world()
    return _Sum.apply(x) if world > 1 else x


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics cover the global batch (Ioffe and Szegedy 2015, over all ranks):
    mean and variance are all-reduced, differentiably, so N ranks normalise exactly as one process would."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise UserError(f"BatchNorm needs (N, C, ...) inputs, got shape {tuple(x.shape)}")

    def forward(self, x):
        _, world = rank_world()
        if not self.training or world == 1:
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        count = x.numel() // x.shape[1] * world
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        mean = global_sum(xf.sum(dims)) / count
        shape = [1, -1] + [1] * (x.dim() - 2)
        var = global_sum(((xf - mean.view(shape)) ** 2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / max(1, count - 1), alpha=m)
                self.num_batches_tracked += 1
        y = (xf - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm in `module` (the heads') replaced by `SyncBatchNorm`, state kept."""
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child))
    return out


def barrier() -> None:
    if rank_world()[1] > 1:
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    """A picklable object from rank `src` on every rank (e.g. a decision made on the master)."""
    if rank_world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]



def sharded(make, n: int):
    """`make(n_global)` for the global batch, on every rank, then this rank's n rows of each tensor it
    returns (a tensor or a tuple of them): for samplers whose draws depend on the whole batch."""
    rank, world = rank_world()
    out = make(n * world)
    if world == 1:
        return out
    pick = lambda t: t[rank * n:(rank + 1) * n]
    return tuple(pick(t) for t in out) if isinstance(out, tuple) else pick(out)
