"""The synthetic dataset and --dry-run: everything runs with no data on disk."""
import math

import numpy as np
import torch

from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.data import load_dataset
from gankit.runs import read_metrics


def _principal_angle(img: torch.Tensor) -> float:
    """Orientation (degrees in [0, 180)) of an image's ink, from its second moments."""
    w = img.double()
    ys, xs = torch.meshgrid(torch.arange(w.shape[0], dtype=torch.float64),
                            torch.arange(w.shape[1], dtype=torch.float64), indexing="ij")
    m = w.sum()
    cx, cy = (w * xs).sum() / m, (w * ys).sum() / m
    cov_xx, cov_yy = (w * (xs - cx) ** 2).sum() / m, (w * (ys - cy) ** 2).sum() / m
    cov_xy = (w * (xs - cx) * (ys - cy)).sum() / m
    return math.degrees(0.5 * math.atan2(2 * cov_xy, cov_xx - cov_yy)) % 180


def test_synthetic_is_ten_balanced_classes_of_bars_at_their_angles():
    data = load_dataset("synthetic")
    assert data.images.shape == (6000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.num_classes == 10 and torch.bincount(data.labels).tolist() == [600] * 10
    assert torch.equal(load_dataset("synthetic").images, data.images)  # made from a fixed seed
    assert not torch.equal(load_dataset("synthetic", "test").images[:100], data.images[:100])
    for i in range(200):
        want = 18 * int(data.labels[i])
        got = _principal_angle(data.images[i, 0])
        assert min(abs(got - want), 180 - abs(got - want)) < 8, (i, want, got)


def test_synthetic_follows_the_folder_options():
    data = load_dataset("synthetic", "test", image_size=32, channels=3)
    assert data.images.shape == (1000, 3, 32, 32)
    per_class = [data.images[data.labels == k].float().mean((0, 2, 3)) for k in range(10)]
    assert any(not torch.allclose(per_class[0], c, atol=2) for c in per_class[1:])  # each class its own colour


def test_dry_run_writes_the_usual_run_folder_after_one_iteration(tmp_path):
    run = tmp_path / "dry"
    assert main(["train", "vanilla", "--dry-run", "--dataset", "synthetic", "--run-dir", str(run),
                 "--no-progress"]) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1] and all(math.isfinite(v) for v in rows[0].values())
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 1
    for name in ("config.yaml", "final.png", "samples/step_0000001.png"):
        assert (run / name).is_file(), name
    assert main(["sample", str(run), "--n", "8", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (8, 28, 28)
