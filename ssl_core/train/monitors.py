"""What the trainer measures on held-out data while it trains, per kind of run, always beside baselines.

- SSL: kNN top-1 (k = 20, 200) of the evaluated backbone's embedding, beside raw pixels and the random-init
  network of the same architecture (`ssl_core.models.random_init`, the one seed rule), measured once.
- Classifier: test accuracy, beside always answering the most common training class.
- Sparse autoencoder: explained variance, L0 and dead fraction on held-out tokens (`ssl_core.sae`).

A monitor is built once, on the master process only, and called with the (unwrapped) method.
"""

import torch

from ssl_core.data import IMAGENET, load_data
from ssl_core.eval.baselines import pixel_features
from ssl_core.eval.knn import knn_accuracy
from ssl_core.features import extract
from ssl_core.models import random_init


class KnnMonitor:
    def __init__(self, cfg, method, data, test, device, bf16: bool, log):
        self.device, self.bf16, self.pool = device, bf16, method.pool
        self.active = data.labelled
        if not self.active:
            log("the data has no labels: kNN accuracy is not measured")
            return
        test = test if test is not None else load_data(cfg.data, "test", data.size, None)
        g = torch.Generator().manual_seed(cfg.seed)
        self.bank = data.subset(torch.randperm(len(data), generator=g)[: cfg.knn_bank])
        self.test = test.subset(torch.randperm(len(test), generator=g)[: cfg.knn_test])
        pix = knn_accuracy(pixel_features(self.bank.images), self.bank.labels, pixel_features(self.test.images),
                           self.test.labels, (20, 200))
        rnd = self.knn(random_init(method.eval_backbone.arch).to(device))
        self.baselines = {"knn_pixels_k20": pix[20], "knn_pixels_k200": pix[200],
                          "knn_random_k20": rnd["knn_k20"], "knn_random_k200": rnd["knn_k200"]}

    def knn(self, backbone) -> dict:
        def embed(images):
            return extract(backbone, images, IMAGENET, tokens=(self.pool,), device=self.device, bf16=self.bf16)[self.pool]

        acc = knn_accuracy(embed(self.bank.images), self.bank.labels, embed(self.test.images), self.test.labels,
                           (20, 200))
        return {"knn_k20": acc[20], "knn_k200": acc[200]}

    def __call__(self, method) -> dict:
        return {**self.knn(method.eval_backbone), **self.baselines} if self.active else {}

    def summary(self, m: dict) -> str:
        return (f"kNN top-1 {m['knn_k200']:.3f} (k=200; raw pixels {m['knn_pixels_k200']:.3f}, "
                f"random init {m['knn_random_k200']:.3f})") if "knn_k200" in m else ""


class AccuracyMonitor:
    def __init__(self, cfg, method, data, test, device, bf16: bool, log):
        self.device = device
        if test is None:
            test = load_data(cfg.data, "test", data.size, None) if not hasattr(data, "tensors") else None
        self.test = test
        self.active = test is not None and test.labelled
        if not self.active:
            log("no labelled held-out data: test accuracy is not measured")
            return
        counts = torch.bincount(data.labels[data.labels >= 0])
        self.baselines = {"test_acc_majority": float((test.labels == counts.argmax()).float().mean())}

    @torch.no_grad()
    def __call__(self, method) -> dict:
        if not self.active:
            return {}
        correct = 0
        for i in range(0, len(self.test), 512):
            idx = torch.arange(i, min(len(self.test), i + 512))
            batch = to_device(self.test.batch(idx), self.device)
            correct += int((method.predict(batch) == batch["labels"]).sum())
        return {"test_acc": correct / len(self.test), **self.baselines}

    def summary(self, m: dict) -> str:
        return (f"test accuracy {m['test_acc']:.3f} (the most common class: {m['test_acc_majority']:.3f})"
                if "test_acc" in m else "")


def to_device(batch: dict, device) -> dict:
    """A batch dict (nested dicts of tensors) on `device`."""
    return {k: to_device(v, device) if isinstance(v, dict) else v.to(device, non_blocking=True)
            for k, v in batch.items()}
