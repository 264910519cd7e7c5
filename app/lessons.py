"""The lesson path shown on Home. Each lesson has a goal, what to look for, one question for the class, and a
link that opens its page with its preset and controls set.

A lesson opens its page with `query` (URL query parameters: a training preset, and the page's own settings
where it keeps them in the URL, JSON-encoded as `app.state.restore` reads them). Training preset names must
exist in ssl_core.train.presets.PRESETS, or be a setting the page reads (tests/app/test_home.py checks both).
Kept here, not in the engine, so Home renders without importing torch. A lesson with a `chart` also draws that
measured table on Home (a JSON file written by a benchmark).
"""

from pathlib import Path

METHODS_COMPARED = Path(__file__).resolve().parents[1] / "assets" / "lessons" / "methods-compared.json"

LESSONS = [
    dict(
        key="contrastive",
        title="1. Contrastive learning and temperature",
        goal="See a network learn to tell shapes apart in three minutes, without a single label.",
        text="Pull two views of the same image together and push other images away. "
        "The temperature decides how hard the model works on the nearest wrong images.",
        look_for="The kNN accuracy line climbing from the random network's dashed line past the raw pixels' one "
        "while the loss falls (about 0.23 to 0.55 in three minutes on two cores, against 0.39 for pixels).",
        question="The two views of a star differ in colour and crop. What must the features keep, and what "
        "may they forget, for the two views to match?",
        page="app/pages/train.py",
        query={"preset": "contrastive-shapes"},
    ),
    dict(
        key="collapse",
        title="2. Collapse and what prevents it",
        goal="Watch a model find the lazy answer, one embedding for every image, and see what stops it.",
        text="Without negatives a network can map every image to the same point. Stop-gradient, an "
        "EMA teacher, a predictor, or variance and redundancy terms keep the embedding spread out; "
        "watch embedding std and effective rank.",
        look_for="Start this run, then its guarded twin byol-collapse-guarded (the same recipe with the predictor "
        "and the EMA target on): the collapse run's embedding std and effective rank fall towards zero, the "
        "twin's stay up, both on one chart from zero.",
        question="The collapsed model's loss is low. Why is a low loss no proof that it learnt anything?",
        page="app/pages/train.py",
        query={"preset": "byol-collapse"},
    ),
    dict(
        key="distillation",
        title="3. Self-distillation and emerging attention",
        goal="See attention heads learn to look at the object, though nobody ever showed them where it is.",
        text="DINO trains a student to match an EMA teacher on large and small crops; "
        "its attention heads learn to find objects without ever seeing a mask.",
        look_for="After training, open the run on Look: the heads' attention gathers on the shape, not on "
        "the background, unlike a random network's.",
        question="The loss never mentions objects. Why would matching a small crop to the whole image make "
        "the network attend to the object?",
        page="app/pages/train.py",
        query={"preset": "dino-shapes"},
    ),
    dict(
        key="masked",
        title="4. Masked image modelling",
        goal="Hide three quarters of an image and see a network learn to fill in the rest.",
        text="Hide most patches and ask the model to fill them in (MAE), or to predict the "
        "features of hidden blocks (I-JEPA). See the masks on Data.",
        look_for="The loss falling well below 1, the loss of a model that only knows each patch's mean "
        "colour, within the first minute.",
        question="Why does MAE hide 75% of the patches and not 15%, as language models hide words?",
        page="app/pages/train.py",
        query={"preset": "mae-shapes"},
    ),
    dict(
        key="features",
        title="5. What the features encode",
        goal="See which images a model thinks alike, on a map of the whole dataset.",
        text="kNN accuracy asks whether neighbours in feature space share a label; a UMAP map "
        "shows which images the model thinks alike. Each digit sits at its own place and scale, so raw pixels, "
        "which compare images point by point, miss many a match that the features find.",
        look_for="Digits of one class gathering in islands; hover over a point that sits in the wrong "
        "island and see why the model confused it.",
        question="Two digits that look alike to you sit far apart on the map. What else could the model be "
        "looking at?",
        page="app/pages/map.py",
        query={"preset": "contrastive-digits", "map_data": '"digits:place=random"', "map_method": '"umap"'},
    ),
    dict(
        key="segmentation",
        title="6. Zero-shot segmentation by clicking",
        goal="Cut an object out of a photograph with one click and no segmentation training.",
        text="Click one patch of an object: patches with similar features light up, and a "
        "threshold turns that map into a mask.",
        look_for="The mask following the object's outline; compare it with the colour-only baseline, which "
        "also lights up the background where it has the object's colour.",
        question="Where does the mask leak? What do those patches share with the one you clicked?",
        page="app/pages/look.py",
        query={"preset": "dino-shapes"},
    ),
    dict(
        key="shortcuts",
        title="7. Shortcuts",
        goal="Find out which of two clues a model learns when the easier one to read is right less often.",
        text="When a second feature predicts the label as well as the real one, which does a model learn? "
        "Measure its bias against the best possible classifier, in a latent lab and in pictures.",
        look_for="A linear model's bias near zero and the MLPs' above it once there is a hidden layer (about "
        "0.03 against 0.08-0.11 at this setting, trained to convergence); more layers add little. Mind the error "
        "bars: three seeds are few.",
        question="Why would a network rely on a feature that is right less often than another?",
        page="app/pages/probe.py",
        query={"preset": "shortcuts"},
    ),
    dict(
        key="dictionaries",
        title="8. Feature dictionaries",
        goal="Split a model's features into many rare directions and name what each one means.",
        text="A sparse autoencoder splits features into many directions that each fire rarely; "
        "compare them with the factors we know generated the images.",
        look_for="Latents that fire on one colour or one shape (high F1), and factors split over several "
        "latents or owning none.",
        question="A latent fires on red circles only. Is that one feature or two?",
        page="app/pages/dictionary.py",
        query={"preset": "dictionaries"},
    ),
    dict(
        key="methods",
        title="9. Methods compared",
        goal="See which self-supervised methods learn most from the same ten minutes of one laptop core, and "
        "how far the best is from ideas without any training.",
        text="Every method of the lab trained for the same ten minutes on the same photographs (CIFAR-10), with "
        "the same batch, learning rate and schedule, then scored by the same kNN rule. Beside them: raw "
        "pixels, an untrained network, and k-means features from 2011 that need no backpropagation at all.",
        look_for="Which bars clear all three lines, and how the speed of a method (images per second, in "
        "each bar's hover) decides what a short budget can teach it.",
        question="A method that wins after ten minutes may lose after ten hours. What would you have to "
        "measure to know which one is better?",
        page="app/pages/train.py",
        query={"preset": "ten-minutes"},
        chart=METHODS_COMPARED,
    ),
]
