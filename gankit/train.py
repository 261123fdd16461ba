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
from gankit import distributed
from gankit.checkpoint import load_checkpoint, load_state, save_checkpoint
from gankit.config import Config
from gankit.data import load_dataset
from gankit.images import save_grid, to_float, to_uint8
from gankit.losses import build_loss
from gankit.models import build_models
from gankit.runs import MetricsLog, RunDir, sample_z
from gankit.tblog import open_writer


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


class BatchSampler:
    """Random minibatches by index from a uint8 tensor that already lives on the device."""

    def __init__(self, images_u8, labels, batch_size: int, data_range: str, generator: torch.Generator):
        self.images, self.labels = images_u8, labels
        self.batch_size, self.range, self.gen = batch_size, data_range, generator

    def __call__(self):
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=self.gen, device=self.images.device)
        y = self.labels[idx] if self.labels is not None else None
        return to_float(self.images[idx], self.range), y


class GANStep:
    """One iteration of alternating updates: ``d_steps`` D updates, then one G update."""

    def __init__(self, cfg: Config, G, D, objective, opt_g, opt_d, num_classes: int, gen: torch.Generator):
        self.cfg, self.G, self.D, self.obj = cfg, G, D, objective
        self.opt_g, self.opt_d, self.num_classes, self.gen = opt_g, opt_d, num_classes, gen

    def noise(self, n: int, device):
        z = sample_z(n, self.cfg.model.z_dim, self.cfg.model.z_dist, self.gen, device)
        y = (torch.randint(self.num_classes, (n,), generator=self.gen, device=device)
             if self.num_classes else None)
        return z, y

    def d_step(self, real, y_real):
        z, y_fake = self.noise(real.shape[0], real.device)
        with torch.no_grad():
            fake = self.G(z, y_fake)
        real_out, fake_out = self.D(real, y_real), self.D(fake, y_fake)
        loss = self.obj.d_loss(real_out, fake_out)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"D_loss": loss.detach(), "D(x)": self.obj.prob(real_out.detach()).mean(),
                "D(G(z))": self.obj.prob(fake_out.detach()).mean()}

    def g_step(self, n: int, device):
        z, y = self.noise(n, device)
        # D's grads from this backward are discarded (zeroed before the next D step), so
        # the plain D is used: under DDP this skips a useless all-reduce of D's grads.
        loss = self.obj.g_loss(distributed.unwrap(self.D)(self.G(z, y), y))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return {"G_loss": loss.detach()}

    def __call__(self, sampler: BatchSampler) -> dict[str, torch.Tensor]:
        for _ in range(self.cfg.train.d_steps):
            real, y = sampler()
            stats = self.d_step(real, y)
        stats.update(self.g_step(real.shape[0], real.device))
        return stats


def make_optimizers(cfg: Config, G, D):
    o = cfg.optim
    opt_g = torch.optim.Adam(G.parameters(), lr=o.g_lr, betas=tuple(o.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.d_lr, betas=tuple(o.betas))
    return opt_g, opt_d


def train(cfg: Config, run_dir: str | Path, *, resume: bool = False, time_budget: float | None = None,
          progress: bool = True, data_dir: str | None = None) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (continuing its last checkpoint when ``resume``)."""
    run = RunDir(run_dir)
    device = distributed.init(cfg.train.device)  # one rank of a torchrun job, or a single process
    main = distributed.is_main()
    torch.manual_seed(cfg.train.seed)

    data = load_dataset(cfg.data.dataset, "train", data_dir or cfg.data.data_dir,
                        image_size=cfg.data.image_size, channels=cfg.data.channels)
    num_classes = data.num_classes if cfg.model.conditional else 0
    G, D = build_models(cfg, data.shape, num_classes)
    G, D = G.to(device), D.to(device)
    G_train, D_train = distributed.wrap(G, D, device, cfg.train.sync_batchnorm)  # G, D when not distributed
    opt_g, opt_d = make_optimizers(cfg, G, D)
    objective = build_loss(cfg)

    gen = torch.Generator(device=device).manual_seed(distributed.rank_seed(cfg.train.seed))
    sampler = BatchSampler(data.images.to(device), data.labels.to(device) if num_classes else None,
                           distributed.local_batch(cfg.train.batch_size), cfg.data.range, gen)
    step_fn = GANStep(cfg, G_train, D_train, objective, opt_g, opt_d, num_classes, gen)

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
        distributed.restore_stream(gen, state["rng"], cfg.train.seed, state["step"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        start_step = state["step"]
    if main:
        run.root.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, run.config)
    log = MetricsLog(run.metrics, resume_step=start_step if resume else None) if main else None
    tb = open_writer(cfg.train.tensorboard and main, run.root)
    prior_elapsed = state.get("elapsed_s", 0.0) if resume else 0.0

    def checkpoint(step: int, elapsed: float) -> None:
        sampler_ranks = distributed.gather_states(gen)  # collective: every rank calls checkpoint()
        if not main:
            return
        save_checkpoint({
            "step": step, "elapsed_s": elapsed, "config": cfg.to_dict(),
            "data_shape": list(data.shape), "num_classes": num_classes,
            "G": G.state_dict(), "D": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "sampler": gen.get_state(), "sampler_ranks": sampler_ranks},
        }, run.last)

    def draw_grid(path: Path) -> None:
        if not main:
            return
        G.eval()
        with torch.no_grad():
            images = to_uint8(G(fixed_z, fixed_y), cfg.data.range)
        G.train()
        save_grid(images, path, nrow=cfg.train.grid_size)
        if path != run.final:
            tb.grid(step, images, cfg.train.grid_size)

    total = cfg.train.steps
    bar = tqdm(total=total, initial=start_step, disable=not (progress and main), dynamic_ncols=True,
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
            out_of_time = time_budget is not None and distributed.any_true(time.perf_counter() - t0 >= time_budget)
            last = step == total or out_of_time
            if step % cfg.train.log_every == 0 or last:
                means = distributed.mean({k: v / count for k, v in sums.items()})  # over ranks too
                last_row = {"step": step, "elapsed_s": round(elapsed, 3),
                            **{k: round(float(v), 6) for k, v in means.items()}}
                if log:
                    log.write(last_row)
                    tb.scalars(last_row)
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
        if log:
            log.close()
    elapsed = prior_elapsed + time.perf_counter() - t0
    if step % cfg.train.sample_every != 0:
        draw_grid(run.grid_path(step))
    draw_grid(run.final)
    tb.close()
    checkpoint(step, elapsed)
    return TrainResult(run.root, step, elapsed, last_row, stopped_by)
