"""Datasets: IDX parsing, where files come from, and in-memory image sets."""
from gankit.data.datasets import DATASETS, load_dataset
from gankit.data.imageset import ImageSet
from gankit.data.idx import DataError

__all__ = ["DATASETS", "DataError", "ImageSet", "load_dataset"]
