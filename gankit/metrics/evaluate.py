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
from gankit.metrics.modes import POINT_SAMPLES, STACKED_SAMPLES, mixture_scores, mnist_digits, stacked_scores

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


def load_npz(path: str | Path, key: str = "images") -> np.ndarray:
    """The ``images`` (or ``points``) array of a samples file, with errors that name what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise EvalInputError(f"{path}: a single .npy array, not an .npz with an {key!r} key")
            if key not in z.files:
                raise EvalInputError(f"{path}: no {key!r} key (found: {', '.join(z.files) or 'none'}); "
                                     "expected the 'gankit sample' format")
            return z[key]
    except EvalInputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise EvalInputError(f"{path}: not a readable .npz file ({str(e).splitlines()[0][:200]})") from None


def _mixture(points, dataset: str, where: str, data_dir) -> dict:
    from gankit.data import load_dataset

    if not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] != 2 \
            or not np.issubdtype(points.dtype, np.floating):
        raise EvalInputError(f"{where}: {dataset} samples must be float points [N, 2], got "
                             f"{getattr(points, 'dtype', type(points).__name__)} {list(getattr(points, 'shape', []))}")
    test = load_dataset(dataset, "test")
    return mixture_scores(points, test.modes, test.std)


def _stacked(images, dataset: str, where: str, data_dir) -> dict:
    x = check_images(images, where, shape=(3, 28, 28))
    return stacked_scores(x, mnist_digits)


# dataset -> (default sample count, scorer): scored by modes, as the papers score them.
MODE_BENCHMARKS = {"ring8": (POINT_SAMPLES, _mixture), "grid25": (POINT_SAMPLES, _mixture),
                   "stacked-mnist": (STACKED_SAMPLES, _stacked)}
POINT_BENCHMARKS = ("ring8", "grid25")


def evaluate_modes(samples, dataset: str, where: str, data_dir=None) -> dict:
    """Mode-collapse scores of ``samples`` (gankit/metrics/modes.py) for a benchmark dataset."""
    return {"dataset": dataset, **MODE_BENCHMARKS[dataset][1](samples, dataset, where, data_dir)}


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


def default_n(dataset: str) -> int:
    """Samples scored when --n is not given: the mode-collapse papers' counts for their
    benchmarks (gankit/metrics/modes.py), 10,000 otherwise."""
    return MODE_BENCHMARKS[dataset][0] if dataset in MODE_BENCHMARKS else 10000


def evaluate_path(path: str | Path, dataset: str | None = None, n: int | None = None, data_dir=None, seed: int = 0,
                  checkpoint: str = "last", weights: str = "ema", **options) -> dict:
    """Evaluate a run folder (sampling ``n`` samples from its EMA, or with ``weights="raw"`` from
    G's own weights) or the first ``n`` samples of a .npz file."""
    from gankit.runs import RunDir

    t0 = time.perf_counter()
    path = Path(path)
    run = RunDir(path)
    if path.is_dir():
        if not run.exists():
            raise EvalInputError(f"{path}: not a gankit run (no config.yaml) and not a .npz file")
        from gankit.runs import generator_key, load_generator
        from gankit.sample import generate

        G, cfg, state = load_generator(path, checkpoint=checkpoint, weights=weights)
        dataset = dataset or cfg.data.dataset
        n = n or default_n(dataset)
        raw, _ = generate(G, cfg, n, seed=seed)
        info = {"run": str(path), "checkpoint": checkpoint, "step": state.get("step"),
                "weights": "ema" if generator_key(state, weights) == "G_ema" else "raw"}
    elif path.suffix == ".npz" or path.is_file():
        if not path.is_file():
            raise EvalInputError(f"{path}: no such file")
        dataset = dataset or "mnist"
        n = n or default_n(dataset)
        raw = load_npz(path, "points" if dataset in POINT_BENCHMARKS else "images")[:n]
        info = {"samples": str(path)}
    else:
        raise EvalInputError(f"{path}: no such run folder or .npz file")
    if dataset in MODE_BENCHMARKS:
        result = {**info, **evaluate_modes(raw, dataset, str(path), data_dir)}
        result["seconds"] = round(time.perf_counter() - t0, 2)
        return result
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
