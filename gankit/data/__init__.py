"""Datasets: IDX parsing, where files come from, and in-memory image sets."""
from gankit.data.datasets import DATASETS, dataset_kind, load_dataset
from gankit.data.imageset import ImageSet
from gankit.data.idx import DataError

__all__ = ["DATASETS", "DataError", "ImageSet", "dataset_kind", "load_dataset"]
