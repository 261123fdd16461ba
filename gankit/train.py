"""The training loop: one function a reader can follow top to bottom.

setup -> (resume) -> loop { D step(s), G step, checks, log, grid, checkpoint } -> final grid.
Only logging steps and the periodic NaN check synchronise with the device.

Everything a checkpoint holds is listed once, in ``stateful`` (named objects with
``state_dict``) and ``generators`` (RNGs): resume and rollback restore exactly that.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit import distributed
from gankit.checkpoint import CheckpointDir, restore_training_state, save_checkpoint, training_state
from gankit.config import Config, ConfigError
from gankit.data import load_dataset
from gankit.divergence import Diverged, DivergenceError, LRScale, check_row, check_training, scale_lr
from gankit.fast import make_step, run_threads, set_threads
from gankit.health import HealthMonitor
from gankit.images import save_grid, to_float, to_uint8
from gankit.losses import build_loss
from gankit.metrics.monitor import TrainingEval
from gankit.models import build_models
from gankit.runs import MetricsLog, RunDir, RunningMeans, TextLog, sample_z
from gankit.signals import GracefulStop
from gankit.optim import make_optimizers
from gankit.step import BatchSampler, GANStep
from gankit.tblog import open_writer
from gankit.tricks import wrap_discriminator


STOP_SYNC_EVERY = 10  # under torchrun, ranks agree on stopping (signal, time budget) this often


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    elapsed_s: float
    last_metrics: dict
    stopped_by: str  # 'steps', 'time_budget', 'SIGINT' or 'SIGTERM'
    rollbacks: int = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def train(cfg: Config, run_dir: str | Path, *, resume: bool = False, time_budget: float | None = None,
          progress: bool = True, data_dir: str | None = None) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (continuing its newest good checkpoint when ``resume``)."""
    run = RunDir(run_dir)
    device = distributed.init(cfg.train.device)  # one rank of a torchrun job, or a single process
    main = distributed.is_main()  # only rank 0 writes files
    seed_everything(cfg.train.seed)

    data = load_dataset(cfg.data.dataset, "train", data_dir or cfg.data.data_dir,
                        image_size=cfg.data.image_size, channels=cfg.data.channels, strict=cfg.data.strict)
    num_classes = data.num_classes if cfg.model.conditional else 0
    G, D = build_models(cfg, data.shape, num_classes)
    D = wrap_discriminator(cfg, D)  # tricks that change D: noise layers, minibatch features
    G, D = G.to(device), D.to(device)
    G_train, D_train = distributed.wrap(G, D, device, cfg.train.sync_batchnorm)  # G, D when not distributed
    opt_g, opt_d = make_optimizers(cfg, G, D)
    objective = build_loss(cfg)

    # Under torchrun each rank draws train.batch_size / world_size samples from its own stream.
    gen = torch.Generator(device=device).manual_seed(distributed.rank_seed(cfg.train.seed))
    sampler = BatchSampler(data.images.to(device), data.labels.to(device) if num_classes else None,
                           distributed.local_batch(cfg.train.batch_size), cfg.data.range, gen)
    if distributed.is_enabled():
        # DDP averages gradients in backward hooks, which the compiled fast path (autograd.grad
        # + its own Adam) never runs: under torchrun the eager step runs, on the DDP wrappers.
        step_fn = distributed.eager_step(GANStep(cfg, G_train, D_train, objective, opt_g, opt_d, num_classes, gen),
                                         cfg, device)
    else:  # compiled unless train.compile=false; compiles on its first call, after any resume below
        step_fn = make_step(cfg, G, D, objective, opt_g, opt_d, num_classes, gen, device)
    # torchrun already gave each process its share of the cores (OMP_NUM_THREADS)
    threads = (run_threads(cfg, G, D, device, num_classes) if not distributed.is_enabled() or cfg.train.threads
               else torch.get_num_threads())
    tricks = step_fn.tricks  # EMA, schedules, noise clock (gankit/tricks.py)

    # Fixed noise for the monitoring grid: drawn from its own seed so it never shifts.
    n_grid = cfg.train.grid_size ** 2
    fixed_gen = torch.Generator(device="cpu").manual_seed(cfg.train.seed + 12345)
    fixed_z = sample_z(n_grid, cfg.model.z_dim, cfg.model.z_dist, fixed_gen).to(device)
    fixed_y = (torch.arange(n_grid) % num_classes).to(device) if num_classes else None

    means = RunningMeans()
    health = _health_monitor(cfg, G, data, num_classes, device, objective.probabilities)
    lr_scale = LRScale()
    stateful = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "means": means, "health": health,
                "lr_scale": lr_scale, **tricks.stateful()}  # + lr schedules, G_ema, the tricks' clock
    generators = {"sampler": gen}
    meta = {"config": cfg.to_dict(), "data_shape": list(data.shape), "num_classes": num_classes}
    ckpts = CheckpointDir(run.checkpoints, keep=cfg.train.keep_checkpoints)
    note = TextLog(run.log, echo=True) if main else (lambda *args, **kwargs: None)

    def restore_newest() -> tuple[int, float]:
        state, path, skipped = ckpts.latest(map_location=device)
        for reason in skipped:
            note(state["step"], f"skipped an unreadable checkpoint: {reason}")
        restore_training_state(state, stateful, generators, path)
        distributed.restore_stream(gen, state.get("sampler_ranks"), cfg.train.seed, state["step"])
        return state["step"], state.get("elapsed_s", 0.0)

    def checkpoint(step: int, elapsed: float) -> None:
        check_training(step, means.sums, {"G": G, "D": D})  # never save a diverged state
        sampler_ranks = distributed.gather_states(gen)  # collective: every rank calls checkpoint()
        if main:
            ckpts.save(training_state(stateful, generators, elapsed_s=elapsed, sampler_ranks=sampler_ranks,
                                      **meta), step)

    def draw_grid(path: Path) -> None:
        if not main:
            return
        net = tricks.sampling_generator(G)  # the EMA of G when tricks.ema is on
        net.eval()
        with torch.no_grad():
            images = to_uint8(net(fixed_z, fixed_y), cfg.data.range)
        G.train()
        save_grid(images, path, nrow=cfg.train.grid_size)
        if path != run.final:
            tb.grid(step, images, cfg.train.grid_size)

    start_step, prior_elapsed = 0, 0.0
    if resume:
        ckpts.remove_temp_files()
        start_step, prior_elapsed = restore_newest()
    elif ckpts.step_files() or ckpts.last.is_file():  # never mix a new run into an old one
        raise ConfigError(f"{run.checkpoints} already holds checkpoints; continue that run with "
                          f"--resume {run.root}, or choose another --run-dir")
    # Only rank 0 scores the generator; every rank knows when, so the log row stays collective.
    evaluator = TrainingEval.maybe(cfg, run, data_dir or cfg.data.data_dir, start_step) if main else None
    if main:
        run.root.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, run.config)
    log = MetricsLog(run.metrics, resume_step=start_step) if main else None
    tb = open_writer(cfg.train.tensorboard and main, run.root)
    if resume:
        note(start_step, f"resumed from step {start_step}")
    else:
        checkpoint(0, 0.0)  # a good state to roll back to from the very first step

    rollbacks = 0

    def recover(problem: Diverged) -> int:
        """Roll back to the newest good checkpoint with lower learning rates, or stop."""
        nonlocal rollbacks
        if cfg.train.on_divergence == "stop" or rollbacks >= cfg.train.max_rollbacks:
            why = ("train.on_divergence is 'stop'" if cfg.train.on_divergence == "stop"
                   else f"already rolled back {rollbacks} times (train.max_rollbacks)")
            msg = (f"training diverged at step {problem.step}: {problem}; stopped because {why}. "
                   f"{ckpts.describe_last()}")
            note(problem.step, msg, echo=False)  # the CLI prints the error itself
            raise DivergenceError(msg)
        rollbacks += 1
        wanted = lr_scale.value * cfg.train.rollback_lr_factor
        step, _ = restore_newest()
        scale_lr(stateful, wanted / lr_scale.value)
        lr_scale.value = wanted
        if log:
            log.rewind(step)
        note(problem.step, f"{problem}; rolled back to step {step} with learning rates x{wanted:g} of the "
                           f"configured ones (rollback {rollbacks} of {cfg.train.max_rollbacks})")
        return step

    total = cfg.train.steps
    bar = tqdm(total=max(total, start_step), initial=start_step, disable=not (progress and main), dynamic_ncols=True,
               desc=f"{cfg.preset or 'train'}", unit="step")
    last_row, stopped_by = {}, "steps"
    t0 = time.perf_counter()
    step = start_step
    threads_before = set_threads(threads)  # restored below: tests share one process
    try:
        with GracefulStop() as signals:
            while step < total:
                stats = step_fn(sampler)
                step += 1
                means.add(stats)
                elapsed = prior_elapsed + time.perf_counter() - t0
                out_of_time = time_budget is not None and time.perf_counter() - t0 >= time_budget
                stop = signals.received or ("time_budget" if out_of_time else None)
                if distributed.is_enabled():  # ranks agree every few steps, so all stop at the same one
                    stop = distributed.agree_stop(stop) if step % STOP_SYNC_EVERY == 0 or step == total else None
                last = step == total or stop is not None
                try:
                    if step % cfg.train.nan_check_every == 0:
                        check_training(step, means.sums, {"G": G, "D": D})
                    scores = (evaluator(tricks.sampling_generator(G), step)  # the EMA of G when kept
                              if evaluator and evaluator.due(step) else {})
                    if scores and evaluator.improved:  # the best generator by FID so far
                        save_checkpoint({**training_state(stateful, generators, elapsed_s=elapsed, **meta),
                                         "step": step}, run.checkpoints / "best.pt")
                    eval_due = bool(cfg.eval.every) and step % cfg.eval.every == 0
                    if step % cfg.train.log_every == 0 or last or eval_due:
                        partial = step % cfg.train.log_every != 0
                        last_row = {"step": step, "elapsed_s": round(elapsed, 3),
                                    **distributed.mean_floats(means.means()),  # over ranks too
                                    **(health.sample_stats() if cfg.train.health else {}), **scores}
                        if log:
                            log.write({**last_row, "partial": True} if partial else last_row)
                            tb.scalars(last_row)
                        check_row(step, last_row)
                        if not partial:  # a partial row's sums carry on in the checkpoint
                            means.reset()
                        for warning in (health.update(last_row) if cfg.train.health and not partial else []):
                            note(step, f"warning: {warning}")
                        bar.set_postfix({**{k: f"{v:.3f}" for k, v in last_row.items()
                                            if k not in ("step", "elapsed_s")},
                                         **({"health": ", ".join(health.active)} if health.active else {})},
                                        refresh=False)
                    if step % cfg.train.sample_every == 0:
                        draw_grid(run.grid_path(step))
                    if step % cfg.train.checkpoint_every == 0 or last:
                        checkpoint(step, elapsed)
                except Diverged as problem:
                    step = recover(problem)
                    bar.n = step
                    continue
                bar.update(1)
                if stop:
                    stopped_by = stop
                    note(step, f"stopped by {stop}; checkpoint written at step {step}", echo=False)
                    break
    finally:
        set_threads(threads_before)
        bar.close()
        if log:
            log.close()
    elapsed = prior_elapsed + time.perf_counter() - t0
    if step % cfg.train.sample_every != 0:
        draw_grid(run.grid_path(step))
    draw_grid(run.final)
    tb.close()
    return TrainResult(run.root, step, elapsed, last_row, stopped_by, rollbacks)


def _health_monitor(cfg: Config, G, data, num_classes: int, device, d_probabilities: bool = True) -> HealthMonitor:
    """A monitor with its own fixed noise and the first 64 real images (no RNG is consumed)."""
    n = min(64, len(data))
    z = sample_z(n, cfg.model.z_dim, cfg.model.z_dist,
                 torch.Generator(device="cpu").manual_seed(cfg.train.seed + 54321)).to(device)
    y = (torch.arange(n) % num_classes).to(device) if num_classes else None
    real = to_float(data.images[:n], cfg.data.range).to(device)
    return HealthMonitor(G, real, z, y, num_classes=num_classes, d_probabilities=d_probabilities)
