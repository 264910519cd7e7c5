"""RotNet's augmentation, SiT's version, MMC's two readings of "local features"."""

import torch
import torch.nn.functional as F

from ssl_core.data import normalize
from ssl_core.losses import dino_loss
from ssl_core.methods import build_method, method_params
from ssl_core.models import build_backbone
from tests.methods.conftest import TINY_VIT


def test_rotnet_rotates_one_padded_and_cropped_view(shapes_batch):
    # The official CIFAR recipe: RandomCrop(32, padding=4) and a flip, once per image, then its four rotations.
    images = shapes_batch[:6]
    m = build_method("rotnet", build_backbone(TINY_VIT, 32))
    x, labels = m.inputs(images, torch.Generator().manual_seed(0))
    B = len(images)
    assert labels.tolist() == [k for k in range(4) for _ in range(B)]
    for k in range(4):  # the four copies share one crop
        torch.testing.assert_close(x[k * B:(k + 1) * B], torch.rot90(x[:B], k, dims=(-2, -1)))
    padded = normalize(F.pad(images, (4, 4, 4, 4)))  # black fill
    for b in range(B):  # each view is a translate by at most 4 px of the image (or of its mirror)
        found = any(torch.allclose(x[b], v[:, dy:dy + 32, dx:dx + 32], atol=1e-5)
                    for v in (padded[b], padded[b].flip(-1)) for dy in range(9) for dx in range(9))
        assert found, b


def test_sit_is_the_later_version_without_rotation(shapes_batch):
    m = build_method("sit", build_backbone(TINY_VIT, 32))
    assert not hasattr(m, "rotation_head") and "rot_weight" not in {p for p, _, _ in method_params("sit")}
    out = m({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0))
    assert set(out.logs) == {"contrastive_loss", "recon_loss"}
    torch.testing.assert_close(out.loss, torch.tensor(out.logs["contrastive_loss"] + out.logs["recon_loss"]))


def test_dino_loss_matches_every_patch_token_to_its_image():
    g = torch.Generator().manual_seed(0)
    t = [torch.randn(3, 5, generator=g) for _ in range(2)]
    s_cls = [torch.randn(3, 5, generator=g) for _ in range(2)]
    s_patch = torch.randn(3, 4, 5, generator=g)
    c = torch.randn(1, 5, generator=g)
    loss = dino_loss(s_cls + [s_patch], t, c, 0.1, 0.04)
    ce = lambda p_t, s: -(F.softmax((p_t - c) / 0.04, -1) * F.log_softmax(s / 0.1, -1)).sum(-1).mean()  # noqa: E731
    patch_term = lambda p_t: torch.stack([ce(p_t, s_patch[:, n]) for n in range(4)]).mean()  # noqa: E731
    expected = (ce(t[0], s_cls[1]) + ce(t[1], s_cls[0]) + patch_term(t[0]) + patch_term(t[1])) / 4
    torch.testing.assert_close(loss, expected)


def test_mmc_distils_into_patch_tokens_as_an_option(shapes_batch):
    torch.manual_seed(0)
    m = build_method("mmc", build_backbone(TINY_VIT, 32), {"out_dim": 64, "local": "patches"})
    assert m.n_local == 0  # no local crops are drawn
    out = m({"images": shapes_batch[:4]}, torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and m.head.mlp[0].weight.grad.abs().sum() > 0
    crops = build_method("mmc", build_backbone(TINY_VIT, 32), {"out_dim": 64})
    assert crops.local == "crops" and crops.n_local == 2
