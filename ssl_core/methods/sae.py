"""A sparse autoencoder as something the one trainer trains (`--method sae`), over a model's features.

The autoencoder itself is `ssl_core.sae.model`; its tokens come from `ssl_core.sae.tokens`, and its file is
`ssl_core.sae.files`. During training the monitor scores it on held-out tokens beside PCA.
"""

import torch

from ssl_core.errors import UserError
from ssl_core.methods.base import AT_LEAST_ONE, NON_NEGATIVE, Method, StepOutput
from ssl_core.sae.metrics import explained_variance
from ssl_core.sae.model import VARIANTS, SparseAutoencoder

EVAL_TOKENS = 65_536  # held-out tokens the monitor scores (all of them when fewer)


class SAEMonitor:
    """Explained variance and L0 on held-out tokens, and the dead fraction; beside the same explained
    variance of the best k-dimensional linear code (PCA with as many dimensions as the SAE keeps active)."""

    def __init__(self, cfg, method, data, test, device, bf16: bool, log):
        self.device = device
        self.x = test.tensors["inputs"][:EVAL_TOKENS].to(device)
        k = min(method.sae.k, self.x.shape[1]) if method.sae.variant != "relu" else None
        self.baselines = {"pca_explained_variance": pca_explained_variance(data.tensors["inputs"], self.x, k)} if k else {}

    @torch.no_grad()
    def __call__(self, method) -> dict:
        sae = method.sae
        was = sae.training
        sae.eval()
        outs = [sae(sae.standardise(chunk)) for chunk in self.x.split(8192)]
        x_hat = torch.cat([sae.unstandardise(o.x_hat) for o in outs])
        l0 = sum(int((o.acts > 0).sum()) for o in outs) / len(self.x)
        sae.train(was)
        return {"explained_variance": explained_variance(self.x, x_hat), "l0": l0,
                "dead_fraction": float(sae.dead_mask().float().mean()), **self.baselines}

    def summary(self, m: dict) -> str:
        pca = f"; PCA with {m.get('l0', 0):.0f} dimensions {m['pca_explained_variance']:.3f}" \
            if "pca_explained_variance" in m else ""
        return (f"explained variance {m['explained_variance']:.3f} on held-out tokens{pca}, L0 {m['l0']:.1f}, "
                f"dead {m['dead_fraction']:.1%}")


def pca_explained_variance(train: torch.Tensor, test: torch.Tensor, k: int, sample: int = 100_000) -> float:
    """Explained variance on `test` of the projection onto the top-k principal directions of `train`."""
    x = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:sample]].double()
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    basis = v[:k].T.to(test.device)
    t = test.double() - mean.to(test.device)
    return explained_variance(test.double(), (t @ basis) @ basis.T + mean.to(test.device))


class SAETask(Method):
    """A sparse autoencoder over a model's features (see ssl_core.sae.model), trained by the one trainer."""

    name = "sae"
    kind = "sae"
    description = "Sparse autoencoder: a dictionary of many directions of a model's features, each firing rarely."
    paper = "Gao et al. Scaling and evaluating sparse autoencoders, 2024 (TopK, AuxK); Bussmann, Leask, Nanda. " \
            "BatchTopK Sparse Autoencoders, 2024; Bricken et al. Towards Monosemanticity, 2023 (ReLU + L1)"
    param_docs = {
        "variant": "topk (the k largest latents per token), batchtopk (k per token on average over the batch) or "
                   "relu (ReLU with an L1 penalty).",
        "expansion": "Width as a multiple of the feature width (8: 8 x 192 = 1,536 latents on a 192-d model).",
        "width": "The number of latents, instead of an expansion (empty: use the expansion).",
        "k": "Active latents per token (topk, batchtopk).",
        "l1": "Weight of the L1 sparsity penalty (relu).",
        "aux_k": "Dead latents the auxiliary loss (AuxK) reconstructs the residual with (empty: half the feature "
                 "width; 0: off).",
        "dead_window": "A latent is dead when it has not fired in this many training tokens.",
    }
    param_checks = {"variant": (lambda v: v in VARIANTS, f"must be one of {', '.join(VARIANTS)}"),
                    "expansion": AT_LEAST_ONE, "width": AT_LEAST_ONE, "k": AT_LEAST_ONE, "l1": NON_NEGATIVE,
                    "aux_k": NON_NEGATIVE, "dead_window": AT_LEAST_ONE}
    monitor = SAEMonitor

    def __init__(self, backbone, variant: str = "topk", expansion: int = 8, width: int | None = None, k: int = 32,
                 l1: float = 1e-3, aux_k: int | None = None, dead_window: int = 100_000):
        torch.nn.Module.__init__(self)  # no backbone to train: `backbone` only says how wide the features are
        d_in = backbone.d_in
        width = width or expansion * d_in
        if variant != "relu" and k > width:
            raise UserError(f"k = {k} is larger than the SAE's width {width}: lower k or widen the SAE")
        self.sae = SparseAutoencoder(d_in, width, variant, k, l1, aux_k, dead_window=dead_window)
        # Decoder columns stay unit-norm: the gradient moves along the sphere (remove_parallel_grad_), and the
        # columns are renormalised after each step.
        self.sae.W_dec.register_hook(lambda g: g - (g * self.sae.W_dec).sum(0, keepdim=True) * self.sae.W_dec)
        self.source = {}

    @classmethod
    def build(cls, cfg, data, args: dict | None = None) -> "SAETask":
        task = cls.create(Features(data.tensors["inputs"].shape[1]), cfg.method_args if args is None else args)
        sample = data.tensors["inputs"][torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed))[:65536]]
        task.sae.init_from(sample.float())
        task.source = getattr(data, "source_info", {})
        return task

    def forward(self, batch, generator):
        x = self.sae.standardise(batch["inputs"].float())
        loss, logs = self.sae.loss(x)
        return StepOutput(loss, {k: v for k, v in logs.items() if k != "loss"}, None)

    def after_step(self, progress: float) -> None:
        self.sae.after_step()

    @property
    def eval_backbone(self):
        return self.sae

    @property
    def backbone_prefix(self) -> str:
        return "sae."

    def checkpoint_meta(self) -> dict:
        s = self.sae
        arch = {"name": "sae", "d_in": s.d_in, "width": s.width, "variant": s.variant, "k": s.k, "l1": s.l1,
                "aux_k": s.aux_k, "dead_window": s.dead_window}
        return {"kind": "sae", "arch": arch, "backbone_prefix": "sae.", "source": self.source}


class Features:
    """What an SAE has instead of a backbone: the width of the features it reads."""

    def __init__(self, d_in: int):
        self.d_in, self.arch = d_in, {"name": "features"}
