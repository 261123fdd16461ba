"""Score generated images against a dataset's test split with every registered metric.

Inputs are a run folder (its generator draws ``n`` samples with a fixed seed) or a
samples ``.npz`` in the ``gankit sample`` format. The real side uses as many test images
as there are samples (a fixed subset), so sample-size-dependent metrics (FID, precision,
recall) compare like with like; up to the 10,000 test images.
"""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from gankit.errors import ConfigError
from gankit.metrics import METRICS
from gankit.metrics.extractor import load_extractor, version
from gankit.metrics.features import FeatureSet, featurize, reference

# Metrics that run during training: cheap ones only (Inception FID is minutes on a CPU).
TRAINING_METRICS = ("fid", "kid", "prdc", "classes", "inception_score")
SUMMARY_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage",
                "class_coverage", "class_kl", "inception_score", "inception_fid")


class EvalInputError(ConfigError):
    """The images given for evaluation cannot be scored (wrong file, key, dtype or shape)."""


def check_images(images, where: str, shape=(1, 28, 28)) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, 1, H, W]`` -> tensor ``[N, 1, H, W]``, or a one-line error."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", type(images).__name__)
        raise EvalInputError(f"{where}: images must be uint8 (0..255), got {dtype}")
    given = list(images.shape)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape) or images.shape[0] < 1:
        raise EvalInputError(f"{where}: images must have shape [N, {shape[1]}, {shape[2]}] "
                             f"(or [N, {shape[0]}, {shape[1]}, {shape[2]}]) with N >= 1, got {given}")
    return torch.from_numpy(np.ascontiguousarray(images))


def load_npz(path: str | Path) -> np.ndarray:
    """The ``images`` array of a samples file, with errors that name what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise EvalInputError(f"{path}: a single .npy array, not an .npz with an 'images' key")
            if "images" not in z.files:
                raise EvalInputError(f"{path}: no 'images' key (found: {', '.join(z.files) or 'none'}); "
                                     "expected the 'gankit sample' format")
            return z["images"]
    except EvalInputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise EvalInputError(f"{path}: not a readable .npz file ({str(e).splitlines()[0][:200]})") from None


def score(fake: FeatureSet, real: FeatureSet, metrics=None, seed: int = 0, **options) -> dict:
    """Run the named (default: all) registered metrics on one fake/real pair."""
    out: dict = {}
    for name in metrics or METRICS.names():
        out.update(METRICS.get(name)(real, fake, seed=seed, **options))
    return out


def real_subset(real: FeatureSet, n: int, seed: int = 0) -> FeatureSet:
    if n >= len(real):
        return real
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
    return real.subset(idx.sort().values)


def evaluate_images(images: torch.Tensor, dataset: str, data_dir=None, metrics=None, seed: int = 0,
                    **options) -> dict:
    """All metrics for uint8 images ``[N, 1, 28, 28]`` of ``dataset``, with timing and provenance."""
    t0 = time.perf_counter()
    load_extractor(dataset)  # fails early, with the list of datasets that have one
    real = real_subset(reference(dataset, "test", data_dir), images.shape[0], seed)
    fake = featurize(images, dataset)
    result = {"dataset": dataset, "n": len(fake), "n_real": len(real), "extractor": version(dataset)}
    result.update(score(fake, real, metrics, seed=seed, **options))
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def evaluate_path(path: str | Path, dataset: str | None = None, n: int = 10000, data_dir=None, seed: int = 0,
                  checkpoint: str = "last", **options) -> dict:
    """Evaluate a run folder (sampling ``n`` images) or the first ``n`` images of a .npz file."""
    from gankit.runs import RunDir

    t0 = time.perf_counter()
    path = Path(path)
    run = RunDir(path)
    if path.is_dir():
        if not run.exists():
            raise EvalInputError(f"{path}: not a gankit run (no config.yaml) and not a .npz file")
        from gankit.runs import load_generator
        from gankit.sample import generate

        G, cfg, state = load_generator(path, checkpoint=checkpoint)
        dataset = dataset or cfg.data.dataset
        raw, _ = generate(G, cfg, n, seed=seed)
        info = {"run": str(path), "checkpoint": checkpoint, "step": state.get("step")}
    elif path.suffix == ".npz" or path.is_file():
        if not path.is_file():
            raise EvalInputError(f"{path}: no such file")
        raw = load_npz(path)[:n]
        dataset = dataset or "mnist"
        info = {"samples": str(path)}
    else:
        raise EvalInputError(f"{path}: no such run folder or .npz file")
    images = check_images(raw, str(path))
    result = {**info, **evaluate_images(images, dataset, data_dir, seed=seed, **options)}
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def write_json(result: dict, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    return path
