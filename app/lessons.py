"""The lesson path shown on Home. Each lesson names the page that shows it and the preset to train.

A lesson opens its page with `query` (URL query parameters: a training preset, or a page's own lesson
setting). Training preset names must exist in ssl_core.train.presets.PRESETS (a test checks this). Kept
here, not in the engine, so Home renders without importing torch.
"""

LESSONS = [
    dict(
        key="contrastive",
        title="1. Contrastive learning and temperature",
        text="Pull two views of the same image together and push other images away. "
        "The temperature decides how hard the model works on the nearest wrong images.",
        page="app/pages/train.py",
        query={"preset": "contrastive-shapes"},
    ),
    dict(
        key="collapse",
        title="2. Collapse and what prevents it",
        text="Without negatives a network can map every image to the same point. Stop-gradient, an "
        "EMA teacher, a predictor, or variance and redundancy terms keep the embedding spread out; "
        "watch embedding std and effective rank.",
        page="app/pages/train.py",
        query={"preset": "dino-collapse"},
    ),
    dict(
        key="distillation",
        title="3. Self-distillation and emerging attention",
        text="DINO trains a student to match an EMA teacher on large and small crops; "
        "its attention heads learn to find objects without ever seeing a mask.",
        page="app/pages/train.py",
        query={"preset": "dino-shapes"},
    ),
    dict(
        key="masked",
        title="4. Masked image modelling",
        text="Hide most patches and ask the model to fill them in (MAE), or to predict the "
        "features of hidden blocks (I-JEPA). See the masks on Data.",
        page="app/pages/data.py",
        query={"preset": "mae-shapes"},
    ),
    dict(
        key="features",
        title="5. What the features encode",
        text="kNN accuracy asks whether neighbours in feature space share a label; a UMAP map "
        "shows which images the model thinks alike.",
        page="app/pages/map.py",
        query={"preset": "contrastive-digits"},
    ),
    dict(
        key="segmentation",
        title="6. Zero-shot segmentation by clicking",
        text="Click one patch of an object: patches with similar features light up, and a "
        "threshold turns that map into a mask.",
        page="app/pages/look.py",
        query={"preset": "dino-shapes"},
    ),
    dict(
        key="shortcuts",
        title="7. Shortcuts",
        text="When a second feature predicts the label as well as the real one, which does a model learn? "
        "Measure its bias against the best possible classifier, in a latent lab and in pictures.",
        page="app/pages/probe.py",
        query={"preset": "shortcuts"},
    ),
    dict(
        key="dictionaries",
        title="8. Feature dictionaries",
        text="A sparse autoencoder splits features into many directions that each fire rarely; "
        "compare them with the factors we know generated the images.",
        page="app/pages/dictionary.py",
        query={"preset": "dictionaries"},
    ),
]
