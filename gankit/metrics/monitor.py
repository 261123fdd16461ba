"""Evaluation during training: every ``eval.every`` steps, score a fixed-seed sample.

The train loop calls :meth:`TrainingEval.__call__` and adds the returned numbers to
``metrics.jsonl``; when FID improves, ``improved`` is set and the loop writes
``checkpoints/best.pt``. The sample always uses the same latent seed, so successive
scores differ only because the generator changed.
"""
from __future__ import annotations

import math

import torch

from gankit.metrics.evaluate import TRAINING_METRICS, real_subset, score
from gankit.metrics.extractor import load_extractor
from gankit.metrics.features import featurize, reference
from gankit.runs import RunDir, read_metrics


class TrainingEval:
    def __init__(self, cfg, run: RunDir, data_dir=None, resume_step: int = 0, seed: int = 0):
        self.cfg, self.every, self.n, self.seed = cfg, cfg.eval.every, cfg.eval.n, seed
        load_extractor(cfg.data.dataset)  # an unsupported dataset fails before training starts
        self.real = real_subset(reference(cfg.data.dataset, "test", data_dir), self.n, seed)
        # On resume the best FID so far comes from the rows up to the checkpoint resumed from.
        rows = read_metrics(run.metrics) if resume_step and run.metrics.is_file() else []
        past = [r["fid"] for r in rows if r.get("step", 0) <= resume_step and isinstance(r.get("fid"), (int, float))]
        self.best = min(past, default=math.inf)
        self.improved = False

    @classmethod
    def maybe(cls, cfg, run: RunDir, data_dir=None, resume_step: int = 0) -> "TrainingEval | None":
        return cls(cfg, run, data_dir, resume_step) if cfg.eval.every else None

    def due(self, step: int) -> bool:
        return step % self.every == 0

    @torch.no_grad()
    def __call__(self, G, step: int) -> dict:
        from gankit.sample import generate

        was_training = G.training
        G.eval()
        try:
            device = next(G.parameters()).device
            raw, _ = generate(G, self.cfg, self.n, seed=self.seed, device=device)
        finally:
            G.train(was_training)
        images = torch.from_numpy(raw).reshape(self.n, 1, *raw.shape[-2:])
        scores = score(featurize(images, self.cfg.data.dataset), self.real, TRAINING_METRICS, seed=self.seed)
        scores.pop("class_histogram", None)
        self.improved = scores["fid"] < self.best
        self.best = min(self.best, scores["fid"])
        return {k: round(v, 6) for k, v in scores.items()}
