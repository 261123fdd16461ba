"""Datasets held in memory: images (uint8 ``[N, C, H, W]``) or points (float32 ``[N, D]``),
with ``labels [N]``. A loader's ``kind`` (gankit/data/kinds.py) says which; images by default."""
from __future__ import annotations

import inspect

import numpy as np
import torch

from gankit.data import sources
from gankit.data.folder import load_folder
from gankit.data.idx import DataError, load_idx
from gankit.data.imageset import ImageSet
from gankit.data.kinds import IMAGES, POINTS
from gankit.data.mixtures import MIXTURES, load_mixture
from gankit.data.stacked import load_stacked
from gankit.data.synthetic import make_synthetic
from gankit.registry import Registry


DATASETS: Registry = Registry("dataset")


def load_dataset(name: str, split: str = "train", data_dir=None, **options) -> ImageSet:
    """Load a registered dataset; ``options`` go to the loader (e.g. ``image_size`` for folders)."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split '{split}'; choose train or test")
    return DATASETS.get(name)(split=split, data_dir=data_dir, **options)


def seeded(name: str) -> bool:
    """Whether the dataset's samples are drawn from the run's seed (ring8, stacked-mnist): its
    loader takes a ``seed``. Others are the same for every seed, and can be loaded once."""
    return "seed" in inspect.signature(DATASETS.get(name)).parameters


def dataset_kind(name: str):
    """IMAGES or POINTS: what dataset ``name`` holds, known without loading it."""
    return getattr(DATASETS.get(name), "kind", IMAGES)


def _idx_dataset(name: str):
    cat = sources.CATALOGUES[name]

    def load(split: str = "train", data_dir=None, download: bool = True, **_) -> ImageSet:
        img_stem, lbl_stem = sources.SPLIT_FILES[split]
        paths = sources.locate(cat, (img_stem, lbl_stem), data_dir, download=download)
        images = load_idx(paths[img_stem], cat.hashes[img_stem])
        labels = load_idx(paths[lbl_stem], cat.hashes[lbl_stem])
        if images.ndim != 3 or labels.shape != (images.shape[0],):
            raise DataError(f"{name}: image and label files do not match ({images.shape} vs {labels.shape})")
        return ImageSet(name, torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1),
                        torch.from_numpy(labels.astype(np.int64)), cat.classes)

    load.__doc__ = f"{name} from IDX files (verified by content sha256)"
    return load


for _name in sources.CATALOGUES:
    DATASETS.register(_name)(_idx_dataset(_name))


@DATASETS.register("folder")
def _folder(split: str = "train", data_dir=None, **options) -> ImageSet:
    """your own PNG/JPEG images from --data-dir (sub-folders become classes)"""
    if not data_dir:
        raise DataError("the folder dataset needs --data-dir (or data.data_dir) pointing at your images")
    return load_folder(data_dir, **options)


@DATASETS.register("synthetic")
def _synthetic(split: str = "train", data_dir=None, image_size: int = 28, channels: int = 1, **_) -> ImageSet:
    """bars at ten angles, made in memory (no files: smoke tests, --dry-run)"""
    return make_synthetic(split, image_size, channels)


def _mixture(name: str):
    def load(split: str = "train", data_dir=None, seed: int = 0, **_):
        return load_mixture(name, split, seed)

    modes, std = MIXTURES[name]
    load.__doc__ = f"{len(modes)} 2D Gaussians (std {std}), 100,000 points drawn from the run's seed"
    load.kind = POINTS
    return load


for _name in MIXTURES:
    DATASETS.register(_name)(_mixture(_name))


@DATASETS.register("stacked-mnist")
def _stacked_mnist(split: str = "train", data_dir=None, seed: int = 0, **_) -> ImageSet:
    """three MNIST digits as RGB channels: 1,000 modes (128,000 images drawn from the run's seed)"""
    return load_stacked(load_dataset("mnist", split, data_dir), split, seed)
