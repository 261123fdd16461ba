"""Evaluation during training: every ``eval.every`` steps, score a fixed-seed sample.

The train loop calls :meth:`TrainingEval.__call__` and adds the returned numbers to
``metrics.jsonl``; when the dataset's headline improves (FID; modes then KL for the
mode-collapse benchmarks, gankit/metrics/modes.py), ``improved`` is set and the loop writes
``checkpoints/best.pt``. The sample always uses the same latent seed, so successive scores
differ only because the generator changed.
"""
from __future__ import annotations


import torch

from gankit.metrics.evaluate import MODE_BENCHMARKS, TRAINING_METRICS, evaluate_modes, real_subset, score
from gankit.metrics.extractor import load_extractor
from gankit.metrics.features import featurize, reference
from gankit.metrics.modes import quality
from gankit.runs import RunDir, read_metrics


class TrainingEval:
    def __init__(self, cfg, run: RunDir, data_dir=None, resume_step: int = 0, seed: int = 0):
        self.cfg, self.every, self.n, self.seed = cfg, cfg.eval.every, cfg.eval.n, seed
        self.data_dir, self.quality = data_dir, quality(cfg.data.dataset)
        self.modes = cfg.data.dataset in MODE_BENCHMARKS  # scored by modes, with no feature network
        if not self.modes:
            load_extractor(cfg.data.dataset)  # an unsupported dataset fails before training starts
            self.real = real_subset(reference(cfg.data.dataset, "test", data_dir), self.n, seed)
        # On resume the best so far comes from the rows up to the checkpoint resumed from.
        rows = read_metrics(run.metrics) if resume_step and run.metrics.is_file() else []
        past = [self.quality.sort_key(r) for r in rows if r.get("step", 0) <= resume_step
                and self.quality.headline in r]
        self.best = min(past, default=None)
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
        if self.modes:
            result = evaluate_modes(raw, self.cfg.data.dataset, "training samples", self.data_dir)
            scores = {k: result[k] for k in self.quality.table if result.get(k) is not None}
        else:
            images = torch.from_numpy(raw).reshape(self.n, 1, *raw.shape[-2:])
            scores = score(featurize(images, self.cfg.data.dataset), self.real, TRAINING_METRICS, seed=self.seed)
            scores.pop("class_histogram", None)
        key = self.quality.sort_key(scores)
        self.improved = self.best is None or key < self.best
        self.best = key if self.improved else self.best
        return {k: round(float(v), 6) for k, v in scores.items()}
