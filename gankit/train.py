"""The training loop: one function a reader can follow top to bottom.

setup -> (resume) -> loop { D step(s), G step, log, grid, checkpoint } -> final files.
Only logging steps synchronise with the device; everything else stays queued.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit.checkpoint import load_checkpoint, load_state, save_checkpoint
from gankit.config import Config
from gankit.data import load_dataset
from gankit.images import save_grid, to_uint8
from gankit.losses import build_loss
from gankit.models import build_models
from gankit.runs import MetricsLog, RunDir, sample_z
from gankit.optim import make_optimizers
from gankit.step import BatchSampler, GANStep


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    elapsed_s: float
    last_metrics: dict
    stopped_by: str  # 'steps' or 'time_budget'


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(cfg: Config, run_dir: str | Path, *, resume: bool = False, time_budget: float | None = None,
          progress: bool = True, data_dir: str | None = None) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (continuing its last checkpoint when ``resume``)."""
    run = RunDir(run_dir)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(cfg.train.seed)

    data = load_dataset(cfg.data.dataset, "train", data_dir or cfg.data.data_dir,
                        image_size=cfg.data.image_size, channels=cfg.data.channels)
    num_classes = data.num_classes if cfg.model.conditional else 0
    G, D = build_models(cfg, data.shape, num_classes)
    G, D = G.to(device), D.to(device)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    objective = build_loss(cfg)

    gen = torch.Generator(device=device).manual_seed(cfg.train.seed)
    sampler = BatchSampler(data.images.to(device), data.labels.to(device) if num_classes else None,
                           cfg.train.batch_size, cfg.data.range, gen)
    step_fn = GANStep(cfg, G, D, objective, opt_g, opt_d, num_classes, gen)

    # Fixed noise for the monitoring grid: drawn from its own seed so it never shifts.
    n_grid = cfg.train.grid_size ** 2
    fixed_gen = torch.Generator(device="cpu").manual_seed(cfg.train.seed + 12345)
    fixed_z = sample_z(n_grid, cfg.model.z_dim, cfg.model.z_dist, fixed_gen).to(device)
    fixed_y = (torch.arange(n_grid) % num_classes).to(device) if num_classes else None

    start_step = 0
    if resume:
        state = load_checkpoint(run.last, map_location=device)
        load_state(G, state["G"], "generator", run.last)
        load_state(D, state["D"], "discriminator", run.last)
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        gen.set_state(state["rng"]["sampler"].cpu() if device.type == "cpu" else state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        start_step = state["step"]
    run.root.mkdir(parents=True, exist_ok=True)
    config_mod.save(cfg, run.config)
    log = MetricsLog(run.metrics, resume_step=start_step if resume else None)
    prior_elapsed = state.get("elapsed_s", 0.0) if resume else 0.0

    def checkpoint(step: int, elapsed: float) -> None:
        save_checkpoint({
            "step": step, "elapsed_s": elapsed, "config": cfg.to_dict(),
            "data_shape": list(data.shape), "num_classes": num_classes,
            "G": G.state_dict(), "D": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "sampler": gen.get_state()},
        }, run.last)

    def draw_grid(path: Path) -> None:
        G.eval()
        with torch.no_grad():
            images = to_uint8(G(fixed_z, fixed_y), cfg.data.range)
        G.train()
        save_grid(images, path, nrow=cfg.train.grid_size)

    total = cfg.train.steps
    bar = tqdm(total=total, initial=start_step, disable=not progress, dynamic_ncols=True,
               desc=f"{cfg.preset or 'train'}", unit="step")
    sums: dict[str, torch.Tensor] = {}
    count, last_row, stopped_by = 0, {}, "steps"
    t0 = time.perf_counter()
    step = start_step
    try:
        while step < total:
            stats = step_fn(sampler)
            step += 1
            count += 1
            for k, v in stats.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            elapsed = prior_elapsed + time.perf_counter() - t0
            out_of_time = time_budget is not None and time.perf_counter() - t0 >= time_budget
            last = step == total or out_of_time
            if step % cfg.train.log_every == 0 or last:
                last_row = {"step": step, "elapsed_s": round(elapsed, 3),
                            **{k: round(float(v) / count, 6) for k, v in sums.items()}}
                log.write(last_row)
                bar.set_postfix({k: f"{v:.3f}" for k, v in last_row.items() if k not in ("step", "elapsed_s")},
                                refresh=False)
                sums, count = {}, 0
            if step % cfg.train.sample_every == 0:
                draw_grid(run.grid_path(step))
            if step % cfg.train.checkpoint_every == 0 and not last:
                checkpoint(step, elapsed)
            bar.update(1)
            if out_of_time:
                stopped_by = "time_budget"
                break
    finally:
        bar.close()
        log.close()
    elapsed = prior_elapsed + time.perf_counter() - t0
    if step % cfg.train.sample_every != 0:
        draw_grid(run.grid_path(step))
    draw_grid(run.final)
    checkpoint(step, elapsed)
    return TrainResult(run.root, step, elapsed, last_row, stopped_by)
