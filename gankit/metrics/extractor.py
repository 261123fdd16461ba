"""The domain feature extractor: a small CNN classifier per dataset, shipped as safetensors.

Inception features are trained on ImageNet photographs and need a download; for 28x28
digits and clothing a classifier trained on the dataset itself is the better judge and
works offline. Its 128-wide penultimate layer (post-ReLU, like Inception's pool3) is the
feature space for FID/KID/PRDC; its logits give class histograms and the Inception Score.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from gankit.errors import ConfigError

FEATURE_DIM = 128
ARCH = "cnn-v1"  # bump when the architecture or the input convention changes


class ExtractorError(ConfigError):
    """No usable feature extractor for a dataset (unknown name, missing or altered weights)."""


def _block(cin: int, cout: int, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]


class FeatureNet(nn.Module):
    """28x28 grayscale -> 128 features -> class logits. Input: uint8 or float in [0, 255]."""

    def __init__(self, num_classes: int = 10, mean: float = 0.5, std: float = 0.5):
        super().__init__()
        self.num_features = FEATURE_DIM  # read by torchmetrics when given as a feature module
        self.body = nn.Sequential(*_block(1, 32, 5), *_block(32, 64), *_block(64, 128), nn.Flatten(),
                                  nn.Linear(128 * 3 * 3, FEATURE_DIM), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        # Normalisation lives in the module so callers pass plain pixels.
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return (x.float() / 255.0 - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits)."""
        f = self.features(x)
        return f, self.head(self.drop(f))


# ---------------------------------------------------------------------------- shipped weights

def weights_dir() -> Path:
    return Path(str(resources.files("gankit") / "weights"))


def card_path() -> Path:
    return weights_dir() / "extractors.json"


def read_card() -> dict:
    """The model card: per dataset the weights file, its sha256, test accuracy and command."""
    path = card_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def available() -> list[str]:
    return sorted(read_card())


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def version(dataset: str) -> str:
    """Identifies the extractor in cache keys and reports: architecture + weights hash."""
    entry = _entry(dataset)
    return f"{ARCH}-{entry['sha256'][:12]}"


def _entry(dataset: str) -> dict:
    card = read_card()
    if dataset not in card:
        have = ", ".join(sorted(card)) or "none"
        raise ExtractorError(f"no feature extractor for dataset '{dataset}' (shipped: {have}); "
                             "metrics in feature space need one")
    return card[dataset]


@lru_cache(maxsize=4)
def load_extractor(dataset: str) -> FeatureNet:
    """The shipped classifier for ``dataset`` in eval mode, its weights checked by sha256."""
    from safetensors.torch import load_file

    entry = _entry(dataset)
    path = weights_dir() / entry["file"]
    if not path.is_file():
        raise ExtractorError(f"{path}: extractor weights missing from the installation")
    if file_sha256(path) != entry["sha256"]:
        raise ExtractorError(f"{path}: extractor weights do not match their recorded sha256")
    state = load_file(str(path))
    net = FeatureNet(entry["num_classes"], entry["mean"], entry["std"])
    net.load_state_dict(state)
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
