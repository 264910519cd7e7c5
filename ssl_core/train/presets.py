"""Classroom presets: each trains something meaningful in minutes on a laptop CPU and shows one lesson.

A collapse preset switches one guard off (`guard`: the method arguments in its config that remove it); its guarded twin,
`<name>-guarded`, is the same recipe with the guard on. Each names the other as `twin`, so the Train page
draws both runs' collapse indicators on one chart.
"""

from dataclasses import replace

from ssl_core.train.config import TrainConfig

PRESETS = {
    "smoke": dict(
        description="A few seconds: checks that training runs end to end (used by the tests).",
        lesson="",
        hidden=True,  # not offered to a class; reachable as ?preset=smoke
        config=TrainConfig(method="simclr", data="shapes:n=512", batch_size=64, steps=30, log_every=2,
                           eval_every=10, knn_bank=512, knn_test=200, ckpt_every=10, warmup=0.1),
    ),
    "ten-minutes": dict(
        description="The best recipe we measured for ten CPU minutes on real photos: SimCLR with a small "
                    "residual ConvNet (bfloat16, channels-last), batch 128, trained on views 0.625 of the images' "
                    "side (20 px of 32), so each step costs 40% of a full-size one, and evaluated at full size "
                    "(FixRes: a ConvNet trained on smaller crops reads larger images well). On CIFAR-10 it reaches kNN "
                    "about 0.56 on two cores, against 0.36 for raw pixels and 0.33 for the random-init network "
                    "(bench/quality.py). Give it any folder of images with --data.",
        lesson="",
        config=TrainConfig(method="simclr", data="shapes", backbone="cnn", batch_size=128, lr=2e-3, warmup=0.02,
                           minutes=10, eval_every=400, method_args={"view_scale": 0.625}),
    ),
    "contrastive-shapes": dict(
        description="SimCLR with the small ConvNet on 32 px scenes of one large solid shape on a plain background, "
                    "about 3 minutes; crops keep at least half the image, so both views show most of the shape. kNN "
                    "climbs from the random-init network's 0.23 well past raw pixels (bench/lessons.py: 0.56 "
                    "against 0.39).",
        lesson="Contrastive learning and temperature",
        config=TrainConfig(method="simclr", data="shapes:scene=easy", backbone="cnn", batch_size=128, lr=2e-3,
                           warmup=0.02, minutes=3, eval_every=50, method_args={"min_scale": 0.5}),
    ),
    "contrastive-digits": dict(
        description="SimCLR on handwritten digits, each at its own scale and place, with the small ConvNet, about "
                    "3 minutes: the features learn to tell digits apart wherever they sit, without a label, and "
                    "kNN climbs above raw pixels (which only match digits in the same place) and far above the "
                    "random-init network (bench/lessons.py: 0.75 against 0.62 and 0.20).",
        lesson="What the features encode",
        config=TrainConfig(method="simclr", data="digits:place=random", backbone="cnn", batch_size=128, lr=2e-3,
                           warmup=0.02, minutes=3, eval_every=50),
    ),
    "dino-shapes": dict(
        description="DINO with a small ViT on 32 px scenes of one large solid shape on a plain background, about "
                    "4 minutes: the last block's attention gathers on the shape, though no mask was ever shown "
                    "(bench/lessons.py: 61% of its kept attention on the shape, against 18% for the random-init "
                    "network).",
        lesson="Self-distillation and emerging attention",
        config=TrainConfig(method="dino", data="shapes:scene=easy", batch_size=128, minutes=4, eval_every=100,
                           method_args={"out_dim": 1024, "n_local": 4, "momentum": 0.99}),
    ),
    "dino-collapse": dict(
        description="DINO without centring: the collapse indicators fall within a couple of minutes.",
        lesson="Collapse and what prevents it",
        config=TrainConfig(method="dino", data="shapes", batch_size=128, minutes=2, eval_every=100,
                           method_args={"out_dim": 1024, "n_local": 2, "center": False}),
        guard=("center",),
    ),
    "mae-shapes": dict(
        description="MAE on 32 px shapes: masked image modelling, about 3 minutes.",
        lesson="Masked image modelling",
        config=TrainConfig(method="mae", data="shapes", batch_size=256, minutes=3, lr=1.5e-3, eval_every=100),
    ),
    "byol-collapse": dict(
        description="BYOL without its predictor and EMA target: nothing stops the trivial solution; "
                    "embedding std and effective rank fall within a couple of minutes.",
        lesson="Collapse and what prevents it",
        config=TrainConfig(method="byol", data="shapes", batch_size=128, minutes=2, eval_every=100,
                           method_args={"predictor": False, "ema": False}),
        guard=("predictor", "ema"),
    ),
    "simclr-collapse": dict(
        description="SimCLR without negatives: only the pull between two views of an image is left, and every "
                    "embedding falls to one point within a couple of minutes (its twin keeps all the batch's "
                    "negatives).",
        lesson="Collapse and what prevents it",
        config=TrainConfig(method="simclr", data="shapes", batch_size=128, minutes=2, eval_every=100,
                           method_args={"negatives": 0}),
        guard=("negatives",),
    ),
    "vicreg-collapse": dict(
        description="VICReg without its variance term: invariance alone pulls every embedding to one point.",
        lesson="Collapse and what prevents it",
        config=TrainConfig(method="vicreg", data="shapes", batch_size=128, minutes=2, eval_every=100,
                           method_args={"var_weight": 0.0}),
        guard=("var_weight",),
    ),
}


def guarded_twin(name: str, preset: dict) -> dict:
    """The collapse preset `name` with its guard back on: the method's own defaults for the guard's arguments."""
    args = {k: v for k, v in preset["config"].method_args.items() if k not in preset["guard"]}
    return dict(description=f"The guarded twin of {name}: the same recipe with the guard on, to draw beside it.",
                lesson=preset["lesson"], twin=name, config=replace(preset["config"], method_args=args))


def _with_twins(presets: dict) -> dict:
    out = {}
    for name, preset in presets.items():
        out[name] = preset
        if "guard" in preset:
            preset["twin"] = f"{name}-guarded"
            out[preset["twin"]] = guarded_twin(name, preset)
    return out


PRESETS = _with_twins(PRESETS)
