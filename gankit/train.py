"""The training loop: one function a reader can follow top to bottom.

setup -> (resume) -> loop { step, EMA, lr schedules, checks, log, grid, checkpoint } -> final grid.
How an iteration runs (eager, compiled, data-parallel; precision; threads) is decided once,
by ``build_step``; the loop only calls it. Only logging steps and the periodic NaN check
synchronise with the device.

Everything a checkpoint holds is listed once, in ``stateful`` (named objects with
``state_dict``) and ``generators`` (RNGs): resume and rollback restore exactly that.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit import distributed
from gankit.ada import AdaptiveAugment
from gankit.checkpoint import CheckpointDir, restore_training_state, save_checkpoint, training_state
from gankit.config import Config
from gankit.data import load_dataset
from gankit.data.subset import held_out, limited
from gankit.divergence import Diverged, DivergenceError, LRScale, check_row, check_training, scale_lr
from gankit.ema import EMA
from gankit.errors import ConfigError
from gankit.fast.tuning import set_threads
from gankit.gan import build_gan
from gankit.health import HealthMonitor
from gankit.data.kinds import save_picture
from gankit.metrics.monitor import TrainingEval
from gankit.runs import MetricsLog, RunDir, RunningMeans, TextLog
from gankit.schedules import Schedules
from gankit.signals import GracefulStop
from gankit.step import build_step
from gankit.tblog import open_writer

FIXED_GRID_SEED = 12345  # the grid's latents: train.seed + this, drawn apart from training's stream
HEALTH_SEED = 54321  # the health monitor's latents, likewise


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    elapsed_s: float
    last_metrics: dict
    stopped_by: str  # 'steps', 'time_budget', 'SIGINT' or 'SIGTERM'
    rollbacks: int = 0


def steps_for_epochs(epochs: float, n: int, images_per_iteration: int) -> int:
    """Iterations in ``epochs`` passes over ``n`` training samples (D's real batches count)."""
    return math.ceil(epochs * n / images_per_iteration)


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
                        image_size=cfg.data.image_size, channels=cfg.data.channels, strict=cfg.data.strict,
                        seed=cfg.train.seed)  # datasets drawn at random (ring8, stacked-mnist) follow the run's seed
    unseen = held_out(data, cfg.data.limit)  # images D never trains on: the overfitting check's
    data = limited(data, cfg.data.limit)  # data.limit: the same small subset for every seed
    if cfg.train.epochs > 0:  # a budget in passes over the data, now that their number is known
        cfg.train.steps = steps_for_epochs(cfg.train.epochs, len(data), cfg.train.batch_size * cfg.train.d_steps)
    gan = build_gan(cfg, data.shape, data.num_classes, device)
    G, latents = gan.G, gan.latents
    step_fn = build_step(cfg, gan, data, device)  # compiles on its first call, after any resume below
    ema = (EMA(G, cfg.tricks.ema, latents, seed=cfg.train.seed, rampup=cfg.tricks.ema_rampup)
           if cfg.tricks.ema > 0 else None)
    schedules = Schedules(cfg, gan.opt_g, gan.opt_d)  # optim.lr_decay, stepped once per iteration
    ada = (AdaptiveAugment(cfg.tricks.ada_target, cfg.tricks.ada_kimg, cfg.train.batch_size * cfg.train.d_steps)
           if cfg.tricks.ada_target > 0 else None)  # tricks.ada_target: the augmentation probability p

    def sampling_generator():
        """The network grids and evaluation draw from: the EMA of G when kept."""
        return ema.sampler() if ema is not None else G

    # Fixed latents for the monitoring picture (a grid, or a scatter of points): drawn from their
    # own seed so they never shift.
    kind = data.kind
    fixed_z, fixed_y = latents.fixed(kind.picture_size(cfg.train.grid_size), cfg.train.seed + FIXED_GRID_SEED, device)
    backdrop = data.samples[:kind.picture_size(cfg.train.grid_size)]  # real samples behind a scatter plot

    means = RunningMeans()
    health = _health_monitor(cfg, gan, data, unseen, device)
    lr_scale = LRScale()
    # The EMA is saved as ``G_ema``, the key ``runs.load_generator`` and export prefer.
    stateful = {**gan.stateful(), "means": means, "health": health, "lr_scale": lr_scale, **schedules.stateful(),
                **({"G_ema": ema} if ema is not None else {}), **({"ada": ada} if ada is not None else {})}
    generators = {"sampler": step_fn.gen}
    meta = {"config": cfg.to_dict(), "data_shape": list(data.shape), "num_classes": latents.num_classes}
    ckpts = CheckpointDir(run.checkpoints, keep=cfg.train.keep_checkpoints)
    note = TextLog(run.log, echo=True) if main else (lambda *args, **kwargs: None)

    def restore_newest() -> tuple[int, float]:
        state, path, skipped = ckpts.latest(map_location=device)
        for reason in skipped:
            note(state["step"], f"skipped an unreadable checkpoint: {reason}")
        restore_training_state(state, stateful, generators, path)
        distributed.restore_stream(step_fn.gen, state.get("sampler_ranks"), cfg.train.seed, state["step"])
        return state["step"], state.get("elapsed_s", 0.0)

    def checkpoint(step: int, elapsed: float) -> None:
        check_training(step, means.sums, {"G": G, "D": gan.D})  # never save a diverged state
        sampler_ranks = distributed.gather_states(step_fn.gen)  # collective: every rank calls checkpoint()
        if main:
            ckpts.save(training_state(stateful, generators, elapsed_s=elapsed, sampler_ranks=sampler_ranks,
                                      **meta), step)

    def draw_grid(path: Path) -> None:
        if not main:
            return
        net = sampling_generator()
        net.eval()
        with torch.no_grad():
            samples = kind.to_output(net(fixed_z, fixed_y), cfg.data.range)
        G.train()
        pixels = kind.picture(samples, nrow=cfg.train.grid_size, real=backdrop)
        save_picture(pixels, path)
        if path != run.final:
            tb.picture(step, pixels)

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
    threads_before = set_threads(step_fn.threads)  # restored below: tests share one process
    compiling = step_fn.mode == "compiled"  # the first call builds the compiled updates: say so, then how long
    if compiling:
        bar.set_postfix_str("compiling the training step (the first run of a model waits for it; cached after)")
    try:
        with GracefulStop() as signals:
            while step < total:
                started = time.perf_counter()
                if ada is None:
                    stats = step_fn(step)
                else:
                    stats = step_fn(step, ada.p)
                    stats["aug_p"] = torch.tensor(ada.p)  # logged: the p this iteration used
                    ada.observe(stats["r_t"])
                if compiling:
                    compiling = False
                    bar.set_postfix_str("", refresh=False)
                    note(step, f"compiled the training step in {time.perf_counter() - started:.0f} s (kept in "
                               f"torch's compile cache: later runs of this model and batch shape start faster)")
                if ema is not None:
                    ema.update(G, step + 1)
                schedules.step()
                step += 1
                means.add(stats)
                elapsed = prior_elapsed + time.perf_counter() - t0
                out_of_time = time_budget is not None and time.perf_counter() - t0 >= time_budget
                stop = signals.received or ("time_budget" if out_of_time else None)
                stop = distributed.agree_stop(stop, step, total)  # under torchrun all ranks stop at one step
                last = step == total or stop is not None
                try:
                    if step % cfg.train.nan_check_every == 0:
                        check_training(step, means.sums, {"G": G, "D": gan.D})
                    scores = (evaluator(sampling_generator(), step)
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


def _health_monitor(cfg: Config, gan, data, unseen, device) -> HealthMonitor:
    """A monitor with its own fixed latents and the first 64 real images (no RNG is consumed);
    ``unseen``: images D never trains on (data.limit's others), for the overfitting check."""
    n = min(64, len(data))
    z, y = gan.latents.fixed(n, cfg.train.seed + HEALTH_SEED, device)

    def slice_of(dataset):
        x = dataset.kind.to_model(dataset.samples[:n], cfg.data.range).to(device)
        labels = dataset.labels[:n].to(device) if gan.latents.num_classes and dataset.labels is not None else None
        return x, labels

    real, real_y = slice_of(data)
    held, held_y = slice_of(unseen) if unseen is not None and len(unseen.samples) >= n else (None, None)
    k = n - n % cfg.model.pack  # D judges packs of model.pack samples: its slices must split into them
    # A mixture knows which mode a sample falls in: the monitor's class coverage is then the
    # share of modes its fixed samples reach (ground truth, no classifier).
    modes_of = getattr(data, "modes_of", None)
    return HealthMonitor(gan.G, real, z, y, classify=modes_of, num_classes=len(data.modes) if modes_of else 0,
                         d_probabilities=gan.objective.probabilities, D=gan.D, d_slice=k, real_y=real_y,
                         held_out=held, held_out_y=held_y)
