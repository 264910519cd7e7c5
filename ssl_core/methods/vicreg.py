"""VICReg (Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
Learning", ICLR 2022)."""


from ssl_core.losses import vicreg
from ssl_core.methods.base import AT_LEAST_ONE, Method, NON_NEGATIVE, StepOutput
from ssl_core.models.heads import mlp


class VICReg(Method):
    name = "vicreg"
    description = "Two views agree (invariance), each dimension keeps its spread (variance), dimensions decorrelate."
    paper = "Bardes, Ponce, LeCun. VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised " \
            "Learning. ICLR 2022"
    param_docs = {
        "sim_weight": "Weight of the invariance term (mean squared error between the two views).",
        "var_weight": "Weight of the variance hinge; 0 removes the guard against collapse.",
        "cov_weight": "Weight of the covariance term that decorrelates the dimensions.",
        "proj_hidden": "Width of the expander's hidden layers.",
        "proj_dim": "Size of the expanded embedding the loss regularises.",
    }
    param_checks = {"sim_weight": NON_NEGATIVE, "var_weight": NON_NEGATIVE, "cov_weight": NON_NEGATIVE, "proj_hidden": AT_LEAST_ONE, "proj_dim": AT_LEAST_ONE}

    def __init__(self, backbone, sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0,
                 proj_hidden: int = 512, proj_dim: int = 512):
        super().__init__(backbone)
        self.weights = (sim_weight, var_weight, cov_weight)
        self.projector = mlp(backbone.embed_dim, proj_hidden, proj_dim, layers=3)

    def forward(self, batch, generator):
        x = self.stacked_views(batch["images"], generator)
        z1, z2 = self.projector(self.backbone(x)).chunk(2)
        return StepOutput(vicreg(z1, z2, *self.weights, gather_distributed=True), {}, z1)
