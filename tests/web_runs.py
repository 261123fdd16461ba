"""Small run folders for the report/serve tests, written the way a run writes them.

No training: a tiny MLP with its initial weights is enough to test pages and endpoints,
and it takes milliseconds instead of a training run.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from gankit import config as C
from gankit.checkpoint import save_checkpoint
from gankit.images import save_grid, to_uint8
from gankit.models import build_models
from gankit.latents import sample_z
from gankit.runs import RunDir

SHAPE = (1, 28, 28)


def make_run(root: Path, conditional: bool = False, frames=(10, 20, 30, 40), panels: bool = True) -> Path:
    run = RunDir(root)
    run.root.mkdir(parents=True, exist_ok=True)
    cfg = C.load_preset("vanilla", ["model.z_dim=8", "model.g_hidden=[16]", "model.d_hidden=[16]",
                                    f"model.conditional={str(conditional).lower()}", "train.seed=1"])
    C.save(cfg, run.config)
    n_classes = 10 if conditional else 0
    torch.manual_seed(1)
    G, D = build_models(cfg, SHAPE, n_classes)
    save_checkpoint({"step": frames[-1] if frames else 0, "elapsed_s": 1.5, "config": cfg.to_dict(),
                     "data_shape": list(SHAPE), "num_classes": n_classes,
                     "G": G.state_dict(), "D": D.state_dict()}, run.last)
    rows = [{"step": s, "elapsed_s": s / 10, "D_loss": 1.3 - s / 100, "G_loss": 0.7 + s / 100,
             "D(x)": 0.5 + s / 1000, "D(G(z))": 0.5 - s / 1000} for s in frames]
    if len(rows) > 2:
        rows[1]["D_loss"] = "nan"  # how MetricsLog writes a non-finite value
        rows[-1]["fid"] = 123.25
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    z = sample_z(4, 8, "uniform", torch.Generator().manual_seed(0))
    y = torch.arange(4) if conditional else None
    for s in frames:
        with torch.no_grad():
            save_grid(to_uint8(G(z * (s / 40), y), "unit"), run.grid_path(s), nrow=2)
    if panels:
        save_grid(to_uint8(G(z, y).detach(), "unit"), run.final, nrow=2)
        (run.root / "plots").mkdir(exist_ok=True)
        Image.new("RGB", (40, 20), (200, 30, 30)).save(run.root / "plots" / "curves.png")
        gif = [Image.new("L", (16, 16), v) for v in (0, 128, 255)]
        gif[0].save(run.root / "interpolation.gif", save_all=True, append_images=gif[1:], duration=100, loop=0)
        (run.root / "eval.json").write_text(json.dumps({"fid": 123.25, "kid": {"mean": 0.01, "std": 0.002}}))
    return run.root
