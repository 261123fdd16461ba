"""Standard Inception FID, for comparison with papers, only when the weights are already here.

Nothing is downloaded. The weights are looked for at a path the user gives
(``--inception PATH`` or ``$GANKIT_INCEPTION_WEIGHTS``), then in the torch hub cache
where torch-fidelity, pytorch-fid and torchmetrics leave them. The network itself comes
from torch-fidelity (through torchmetrics); without both, the metric is reported as null
with the reason.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from gankit.metrics import METRICS

ENV = "GANKIT_INCEPTION_WEIGHTS"
# The same FID Inception weights under the names torch-fidelity and pytorch-fid save them.
KNOWN_FILES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")


def hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return Path(torch_home) / "hub" / "checkpoints"


def find_weights(path: str | Path | None = None) -> Path | None:
    """The first existing Inception weights file: given path, env var, then the hub cache."""
    candidates = [Path(p) for p in (path, os.environ.get(ENV)) if p]
    candidates += [hub_checkpoints() / name for name in KNOWN_FILES]
    return next((p for p in candidates if p.is_file()), None)


def unavailable_reason(path: str | Path | None = None) -> str | None:
    """None when Inception FID can be computed, else one line saying what is missing."""
    if path and not Path(path).is_file():
        return f"Inception weights not found at {path}"
    weights = find_weights(path)
    if weights is None:
        return (f"unavailable offline: no Inception weights (give --inception PATH or set {ENV}, "
                f"or place {KNOWN_FILES[0]} in {hub_checkpoints()})")
    if importlib.util.find_spec("torch_fidelity") is None:
        return f"found weights at {weights}, but the Inception network needs the torch-fidelity package"
    return None


def inception_fid(real_u8: torch.Tensor, fake_u8: torch.Tensor, weights: Path, batch_size: int = 200) -> float:
    """FID in Inception pool3 space (2048-d); grayscale is repeated to RGB, torchmetrics resizes."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    for images, real in ((real_u8, True), (fake_u8, False)):
        for i in range(0, images.shape[0], batch_size):
            batch = images[i:i + batch_size]
            metric.update(batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch, real=real)
    return float(metric.compute())


@METRICS.register("inception_fid")
def inception_fid_metric(real, fake, inception: str | None = None, **_) -> dict:
    """standard FID with Inception-v3 weights, only where they are available locally"""
    reason = unavailable_reason(inception)
    if reason:
        return {"inception_fid": None, "inception_fid_note": reason}
    return {"inception_fid": inception_fid(real.images, fake.images, find_weights(inception))}
