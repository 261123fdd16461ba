"""Pictures of a run, made from the files in its folder (never from a live trainer).

- ``training.gif``: the fixed-noise grids over training, one frame per saved step;
- ``losses.png`` / ``metrics.png``: curves from ``metrics.jsonl``;
- ``interpolation.png``: rows of samples along straight paths between two latent points;
- ``nearest.png``: samples next to their closest training images in the classifier's
  feature space, to show whether the generator copies its training data.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gankit.runs import RunDir, read_metrics

EVAL_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "class_coverage", "class_kl",
             "inception_score")
NOT_CURVES = {"step", "elapsed_s", "class_histogram"}
UNIT_KEYS = {"precision", "recall", "coverage", "class_coverage"}  # shares: drawn on a fixed 0..1 axis


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _step_of(path: Path) -> int:
    m = re.search(r"step_(\d+)", path.name)
    return int(m.group(1)) if m else -1


def training_gif(run_dir, out: str | Path | None = None, frame_ms: int = 250) -> Path | None:
    """Animated GIF of the grids in ``samples/``, each frame labelled with its step."""
    run = RunDir(run_dir)
    paths = sorted(run.samples.glob("step_*.png"), key=_step_of)
    if not paths:
        return None
    frames = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")  # colour grids and scatter plots keep their colours
            canvas = Image.new("RGB", (im.width, im.height + 16), (0, 0, 0))
            canvas.paste(im, (0, 16))
            ImageDraw.Draw(canvas).text((4, 2), f"step {_step_of(p)}", fill=(255, 255, 255))
            frames.append(canvas)
    out = Path(out or run.root / "training.gif")
    durations = [frame_ms] * (len(frames) - 1) + [2000]  # hold the last grid
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out


def _curves(rows: list[dict], keys: list[str], title: str, out: Path) -> Path:
    plt = _plt()
    cols = min(3, len(keys))
    nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.8 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        steps, values = np.array(pts, dtype=float).T if pts else (np.array([]), np.array([]))
        ax.plot(steps, values, lw=1, alpha=0.35 if len(values) > 50 else 1.0, color="C0",
                marker="o" if len(values) <= 30 else None, ms=3)
        if key in UNIT_KEYS:
            ax.set_ylim(-0.03, 1.03)
        elif len(values) and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")  # FID/KID fall by orders of magnitude early in training
        if len(values) > 50:  # a moving average shows the trend through minibatch noise
            w = max(5, len(values) // 40)
            smooth = np.convolve(values, np.ones(w) / w, mode="valid")
            ax.plot(steps[w - 1:], smooth, lw=1.5, color="C1", label=f"mean of {w}")
            ax.legend(fontsize=7, loc="best")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def curves(run_dir) -> list[Path]:
    """``losses.png`` (training statistics) and, when the run evaluated itself, ``metrics.png``."""
    run = RunDir(run_dir)
    if not run.metrics.is_file():
        return []
    rows = read_metrics(run.metrics)
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in NOT_CURVES))
    evals = [k for k in EVAL_KEYS if k in keys]
    losses = [k for k in keys if k not in EVAL_KEYS and not k.endswith(("_std", "_note"))]
    out = []
    if losses:
        out.append(_curves(rows, losses, f"{run.root.name}: training statistics", run.root / "losses.png"))
    if evals:
        out.append(_curves(rows, evals, f"{run.root.name}: evaluation during training", run.root / "metrics.png"))
    return out


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: keeps Gaussian latents at a typical norm along the path."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    return torch.where(so.abs() < 1e-6, (1 - t) * a + t * b,
                       (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so)


@torch.no_grad()
def interpolation(run_dir, rows: int = 8, steps: int = 10, seed: int = 0, checkpoint: str = "last") -> Path:
    """``interpolation.png``: each row walks from one latent point to another.

    Uniform latents are interpolated linearly (the path stays inside the cube they were
    drawn from); Gaussian ones, and the mixture's (its centres are Gaussian), spherically.
    Conditional models keep one class per row.
    """
    from gankit.images import save_grid, to_uint8
    from gankit.latents import Latents
    from gankit.runs import load_generator

    G, cfg, _ = load_generator(run_dir, checkpoint=checkpoint)
    gen = torch.Generator().manual_seed(seed)
    a, b = (Latents.of(cfg).z(rows, gen) for _ in range(2))
    t = torch.linspace(0, 1, steps)[None, :, None]
    if cfg.model.z_dist != "uniform":
        z = slerp(a[:, None].expand(-1, steps, -1), b[:, None].expand(-1, steps, -1), t)
    else:
        z = (1 - t) * a[:, None] + t * b[:, None]
    z = z.reshape(rows * steps, -1)
    k = getattr(G, "num_classes", 0)
    y = (torch.arange(rows) % k).repeat_interleave(steps) if k else None
    images = to_uint8(G(z, y), cfg.data.range)
    return save_grid(images, RunDir(run_dir).root / "interpolation.png", nrow=steps)


@torch.no_grad()
def nearest_neighbours(run_dir, n: int = 8, k: int = 5, seed: int = 0, data_dir=None,
                       checkpoint: str = "last") -> Path:
    """``nearest.png``: each sample, then its ``k`` closest training images (feature space).

    Each row is labelled with the distance to its nearest training image; the title gives
    the same distance for real test images, the yardstick: samples much closer than real
    test images are to the training set are likely copies.
    """
    from gankit.metrics.features import featurize, reference
    from gankit.runs import load_generator
    from gankit.sample import generate

    G, cfg, _ = load_generator(run_dir, checkpoint=checkpoint)
    dataset = cfg.data.dataset
    train = reference(dataset, "train", data_dir)
    raw, _ = generate(G, cfg, n, seed=seed)
    fake = featurize(torch.from_numpy(raw).reshape(n, *G.shape), dataset)
    d = torch.cdist(fake.features, train.features)
    dist, idx = d.topk(k, dim=1, largest=False)
    test = reference(dataset, "test", data_dir)
    probe = test.features[torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:500]]
    typical = float(torch.cdist(probe, train.features).min(1).values.median())

    plt = _plt()
    fig, axes = plt.subplots(n, k + 1, figsize=(1.2 * (k + 1), 1.25 * n + 0.6), squeeze=False)
    for r in range(n):
        row = [fake.images[r]] + [train.images[i] for i in idx[r]]
        for c, img in enumerate(row):
            ax = axes[r, c]
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                for s in ax.spines.values():
                    s.set_edgecolor("C1")
                    s.set_linewidth(2.5)
                ax.set_ylabel(f"d={float(dist[r, 0]):.2f}", fontsize=8)
        if r == 0:
            axes[0, 0].set_title("sample", fontsize=8)
            for c in range(1, k + 1):
                axes[0, c].set_title(f"train #{c}", fontsize=8)
    fig.suptitle(f"nearest training images in feature space\n"
                 f"(median distance for real test images: {typical:.2f})", fontsize=9)
    fig.tight_layout()
    out = RunDir(run_dir).root / "nearest.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def make_all(run_dir, data_dir=None) -> list[Path]:
    """Every picture this module makes; the ones a run cannot support are skipped."""
    from gankit.metrics.extractor import available

    from gankit.data import dataset_kind

    out = [p for p in [training_gif(run_dir), *curves(run_dir)] if p is not None]
    run = RunDir(run_dir)
    dataset = run.load_config().data.dataset if run.exists() else None
    if run.last.is_file() and dataset_kind(dataset).pixels:  # latent walks and neighbours are pictures of images
        out.append(interpolation(run_dir))
        if dataset in available():
            out.append(nearest_neighbours(run_dir, data_dir=data_dir))
    return out
