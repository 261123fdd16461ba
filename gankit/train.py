"""The training loop: one function a reader can follow top to bottom.

setup -> (resume) -> loop { step, EMA, lr schedules, checks, log, grid, checkpoint } -> final grid.
How an iteration runs (eager, compiled, data-parallel; precision; threads) is decided once,
by ``build_step``; the loop only calls it. Only logging steps and the periodic NaN check
synchronise with the device.

A ``Run`` is everything of one run but the step itself: its folder, EMA, schedules,
checks, log, grids, checkpoints and rollback. ``train`` drives one Run with its own step;
``train_seeds`` drives S Runs, one per seed, with one batched step for all of them
(gankit/seeds), so each seed's folder is exactly what its single run would write.

Everything a checkpoint holds is listed once, in ``stateful`` (named objects with
``state_dict``) and ``generators`` (RNGs): resume and rollback restore exactly that.
"""
from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit import distributed
from gankit.ada import AdaptiveAugment
from gankit.checkpoint import CheckpointDir, restore_training_state, save_checkpoint, training_state
from gankit.config import Config
from gankit.data import load_dataset
from gankit.data.datasets import seeded
from gankit.data.kinds import save_picture
from gankit.data.subset import held_out, limited
from gankit.divergence import Diverged, DivergenceError, LRScale, check_row, check_training, scale_lr
from gankit.ema import EMA
from gankit.errors import ConfigError
from gankit.fast.ahead import CompileAhead, remember_compiled
from gankit.fast.tuning import set_threads
from gankit.gan import build_gan
from gankit.health import HealthMonitor
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
    stopped_by: str  # 'steps', 'time_budget', 'SIGINT', 'SIGTERM', or (one seed of a batch) 'diverged'
    rollbacks: int = 0
    error: str = ""  # why a seed of a batch stopped early ('diverged')


def iterations_per_epoch(n: int, images_per_iteration: int) -> int:
    """Iterations in one pass over ``n`` training samples (D's real batches count), as a loader that
    keeps its last partial batch counts them (tf.data's ``batch``, torch's DataLoader by default):
    MNIST's 60,000 images in batches of 256 are 235 iterations, the last of 96 images."""
    return math.ceil(n / images_per_iteration)


def steps_for_epochs(epochs: float, n: int, images_per_iteration: int) -> int:
    """Iterations in ``epochs`` passes over ``n`` training samples: each whole pass
    ``iterations_per_epoch``, a fraction of one as many as its share of the images needs."""
    whole, part = divmod(epochs, 1)
    per_epoch = iterations_per_epoch(n, images_per_iteration)
    return int(whole) * per_epoch + math.ceil(round(part * n / images_per_iteration, 9))


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def training_data(cfg: Config, data_dir: str | None):
    """(training set, held-out images or None) for ``cfg``: ``data.limit``'s subset when set."""
    data = load_dataset(cfg.data.dataset, "train", data_dir or cfg.data.data_dir,
                        image_size=cfg.data.image_size, channels=cfg.data.channels, strict=cfg.data.strict,
                        seed=cfg.train.seed)  # datasets drawn at random (ring8, stacked-mnist) follow the run's seed
    unseen = held_out(data, cfg.data.limit)  # images D never trains on: the overfitting check's
    return limited(data, cfg.data.limit), unseen  # data.limit: the same small subset for every seed


def train(cfg: Config, run_dir: str | Path, *, resume: bool = False, time_budget: float | None = None,
          progress: bool = True, data_dir: str | None = None) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (continuing its newest good checkpoint when ``resume``)."""
    device = distributed.init(cfg.train.device)  # one rank of a torchrun job, or a single process
    seed_everything(cfg.train.seed)
    data, unseen = training_data(cfg, data_dir)
    run = Run(cfg, run_dir, data, unseen, device, resume=resume, data_dir=data_dir, time_budget=time_budget)
    step_fn = run.step_fn
    # under a time budget, train eagerly while a child process compiles the step (gankit/fast/ahead.py)
    ahead = (CompileAhead(cfg, step_fn, data) if CompileAhead.applies(step_fn, data.shape, device, time_budget)
             else None)
    if ahead is not None:
        run.note(run.step, "building the compiled step in a background process; training eagerly until it is ready")
    unmarked = step_fn.mode == "compiled"

    def advance(runs: list[Run]) -> list[dict]:
        nonlocal unmarked
        switching = ahead is not None and ahead.ready()
        if switching:
            run.note(run.step, ahead.switch())
            started = time.perf_counter()
        stats = step_fn(run.step) if run.ada is None else step_fn(run.step, run.ada.p)
        if switching:
            run.note(run.step, f"switched to the compiled step ({time.perf_counter() - started:.0f} s to load it)")
        if unmarked and (ahead is None or ahead.switched) and not step_fn.fallbacks:
            unmarked = False
            remember_compiled(cfg, data.shape)  # the next run under a budget loads it instead of compiling ahead
        return [stats]

    try:
        threads = step_fn.threads if ahead is None else ahead.threads
        compiling_first = step_fn.mode == "compiled" and ahead is None
        drive([run], advance, threads, compiling_first, time_budget, progress, cfg.preset or "train")
    finally:
        if ahead is not None:
            ahead.close()
    return run.result


def train_seeds(cfg: Config, run_dir: str | Path, seeds: list[int], *, time_budget: float | None = None,
                progress: bool = True, data_dir: str | None = None, compiled: bool | None = None) -> list[TrainResult]:
    """Train ``cfg`` once per seed in ``seeds`` as one batched model; seed k's run in ``run_dir/seed-k``.

    Each seed's folder continues its own newest checkpoint when it has one (they may have
    stopped at different steps). Raises ValueError (one line) when the configuration cannot
    be batched (gankit/seeds: ``unbatchable``).
    """
    from gankit.resume import should_resume
    from gankit.seeds import SeedBatch

    device = distributed.init(cfg.train.device)
    if distributed.is_enabled():
        raise ValueError("these seeds cannot train as one batch: data-parallel training runs one seed at a time")
    configs = []
    for k in seeds:
        seed_cfg = copy.deepcopy(cfg)
        seed_cfg.train.seed = k
        configs.append(seed_cfg)
    shared = None if seeded(cfg.data.dataset) else training_data(cfg, data_dir)  # one copy of MNIST for all
    datasets = [shared or training_data(c, data_dir) for c in configs]
    why = batch_refusal(cfg, datasets[0][0], device)
    if why:  # before any folder is written
        raise ValueError(f"these seeds cannot train as one batch: {why}")
    runs = []
    for seed_cfg, (data, unseen) in zip(configs, datasets):
        folder = Path(run_dir) / f"seed-{seed_cfg.train.seed}"
        seed_everything(seed_cfg.train.seed)  # the initial weights of seed k's single run
        runs.append(Run(seed_cfg, folder, data, unseen, device, resume=should_resume(seed_cfg, folder),
                        data_dir=data_dir, eager=True, echo=False, time_budget=time_budget))
    batch = SeedBatch([r.step_fn for r in runs], compiled=cfg.train.compile if compiled is None else compiled)
    for k, run in enumerate(runs):
        run.on_restore = lambda k=k: batch.reload(k)

    def advance(active: list[Run]) -> list[dict]:
        stats = batch([r.step for r in runs], [r.ada.p if r.ada is not None else 1.0 for r in runs])
        by_seed = [{key: v[k] for key, v in stats.items()} for k in range(len(runs))]
        return [by_seed[runs.index(r)] for r in active]

    drive(runs, advance, runs[0].step_fn.threads, batch.compiled, time_budget, progress,
          f"{cfg.preset or 'train'} x{len(runs)} seeds")
    return [r.result for r in runs]


def batch_refusal(cfg: Config, data, device=torch.device("cpu")) -> str | None:
    """Why ``cfg`` cannot train as a seed batch (None when it can), from a throwaway build of its step."""
    from gankit.seeds import unbatchable

    return unbatchable(build_step(cfg, build_gan(cfg, data.shape, data.num_classes, device), data, device,
                                  eager=True))


def drive(runs: list[Run], advance: Callable[[list[Run]], list[dict]], threads: int, compiling: bool,
          time_budget: float | None, progress: bool, label: str) -> None:
    """Iterate until every run has reached its steps or a stop (signal, time budget) came:
    ``advance(active runs)`` runs one iteration and gives each active run its statistics.

    With several runs (a seed batch), one that diverges past its rollbacks stops alone: its
    result says why, and the others go on.
    """
    total = max(r.cfg.train.steps for r in runs)
    start = min(r.step for r in runs)
    bar = tqdm(total=max(total, start), initial=start, disable=not (progress and distributed.is_main()),
               dynamic_ncols=True, desc=label, unit="step")
    t0 = time.perf_counter()
    before = set_threads(threads)  # restored below: tests share one process
    if compiling:  # the first call builds the compiled updates: say so, then how long
        bar.set_postfix_str("compiling the training step (the first run of a model waits for it; cached after)")
    for r in runs:
        if r.finished:  # resumed at or past its steps: only its pictures are redrawn
            r.final_grids()
    try:
        with GracefulStop() as signals:
            active = [r for r in runs if not r.finished]
            while active:
                started = time.perf_counter()
                stats = advance(active)
                if compiling:
                    compiling = False
                    bar.set_postfix_str("", refresh=False)
                    for r in active:
                        r.note(r.step, f"compiled the training step in {time.perf_counter() - started:.0f} s (kept "
                                       f"in torch's compile cache: later runs of this model and batch shape start faster)")
                out_of_time = time_budget is not None and time.perf_counter() - t0 >= time_budget
                stop = signals.received or ("time_budget" if out_of_time else None)
                stop = distributed.agree_stop(stop, active[0].step + 1, total)  # torchrun: one run, all ranks agree
                elapsed = time.perf_counter() - t0
                for r, s in zip(active, stats):
                    try:
                        r.record(s, elapsed, stop)
                    except DivergenceError as e:
                        if len(runs) == 1:
                            raise
                        r.fail(str(e))
                active = [r for r in active if not r.finished]
                bar.n = min((r.step for r in active), default=total)
                if any(r.step % r.cfg.train.log_every == 0 for r in active) or not active:
                    bar.set_postfix(runs[0].postfix() if len(runs) == 1 else _seeds_postfix(runs), refresh=False)
                bar.update(0)
    finally:
        set_threads(before)
        bar.close()
        for r in runs:
            r.close_logs()


def _seeds_postfix(runs: list[Run]) -> dict:
    done = sum(r.finished and not r.result.error for r in runs)
    return {"done": f"{done}/{len(runs)}", "rollbacks": sum(r.rollbacks for r in runs),
            "failed": sum(bool(r.result.error) for r in runs if r.finished)}


class Run:
    """One run's state and bookkeeping around its step (built here, ``step_fn``).

    ``record(stats, elapsed, stop)`` is everything after an iteration: EMA, schedules, the NaN
    check, the log row, health, grids, checkpoints, and rollback on divergence. ``on_restore``
    is called after a checkpoint was loaded into the run's objects (a seed batch copies the
    optimiser state back into its stack there).
    """

    def __init__(self, cfg: Config, run_dir: str | Path, data, unseen, device: torch.device, *,
                 resume: bool = False, data_dir: str | None = None, eager: bool = False, echo: bool = True,
                 time_budget: float | None = None):
        self.cfg, self.device, self.data_dir = cfg, device, data_dir
        self.run = run = RunDir(run_dir)
        self.main = main = distributed.is_main()  # only rank 0 writes files
        images_per_iteration = cfg.train.batch_size * cfg.train.d_steps
        if cfg.train.epochs > 0:  # a budget in passes over the data, now that their number is known
            cfg.train.steps = steps_for_epochs(cfg.train.epochs, len(data), images_per_iteration)
        # train.sample_every=epoch: a grid after every pass over the data (the Keras tutorial's)
        self.sample_every = (iterations_per_epoch(len(data), images_per_iteration) if cfg.train.sample_every == "epoch"
                             else cfg.train.sample_every)
        self.gan = gan = build_gan(cfg, data.shape, data.num_classes, device)
        self.G, latents = gan.G, gan.latents
        # compiles on its first call, after any resume below
        self.step_fn = build_step(cfg, gan, data, device, eager=eager)
        self.ema = (EMA(self.G, cfg.tricks.ema, latents, seed=cfg.train.seed, rampup=cfg.tricks.ema_rampup)
                    if cfg.tricks.ema > 0 else None)
        # optim.lr_decay, stepped once per iteration (linear: to the time budget too)
        self.schedules = Schedules(cfg, gan.opt_g, gan.opt_d, time_budget)
        self.ada = (AdaptiveAugment(cfg.tricks.ada_target, cfg.tricks.ada_kimg,
                                    cfg.train.batch_size * cfg.train.d_steps)
                    if cfg.tricks.ada_target > 0 else None)  # tricks.ada_target: the augmentation probability p
        # Fixed latents for the monitoring picture (a grid, or a scatter of points): drawn from their
        # own seed so they never shift.
        self.kind = kind = data.kind
        self.fixed_z, self.fixed_y = latents.fixed(kind.picture_size(cfg.train.grid_size),
                                                   cfg.train.seed + FIXED_GRID_SEED, device)
        self.backdrop = data.samples[:kind.picture_size(cfg.train.grid_size)]  # real samples behind a scatter plot
        self.means = RunningMeans()
        self.health = _health_monitor(cfg, gan, data, unseen, device)
        self.lr_scale = LRScale()
        # The EMA is saved as ``G_ema``, the key ``runs.load_generator`` and export prefer.
        self.stateful = {**gan.stateful(), "means": self.means, "health": self.health, "lr_scale": self.lr_scale,
                         **self.schedules.stateful(), **({"G_ema": self.ema} if self.ema is not None else {}),
                         **({"ada": self.ada} if self.ada is not None else {})}
        self.generators = {"sampler": self.step_fn.gen}
        self.meta = {"config": cfg.to_dict(), "data_shape": list(data.shape), "num_classes": latents.num_classes}
        self.ckpts = CheckpointDir(run.checkpoints, keep=cfg.train.keep_checkpoints)
        self.note = TextLog(run.log, echo=echo) if main else (lambda *args, **kwargs: None)
        self.on_restore: Callable[[], None] = lambda: None
        self.rollbacks, self.finished, self.last_row = 0, False, {}
        self.result = TrainResult(run.root, 0, 0.0, {}, "steps")

        self.step, self.prior_elapsed = 0, 0.0
        if resume:
            self.ckpts.remove_temp_files()
            self.step, self.prior_elapsed = self.restore_newest()
        elif self.ckpts.step_files() or self.ckpts.last.is_file():  # never mix a new run into an old one
            raise ConfigError(f"{run.checkpoints} already holds checkpoints; continue that run with "
                              f"--resume {run.root}, or choose another --run-dir")
        # Only rank 0 scores the generator; every rank knows when, so the log row stays collective.
        self.evaluator = (TrainingEval.maybe(cfg, run, data_dir or cfg.data.data_dir, self.step)
                          if main else None)
        if main:
            run.root.mkdir(parents=True, exist_ok=True)
            config_mod.save(cfg, run.config)
        self.log = MetricsLog(run.metrics, resume_step=self.step) if main else None
        self.tb = open_writer(cfg.train.tensorboard and main, run.root)
        if resume:
            self.note(self.step, f"resumed from step {self.step}")
        else:
            self.checkpoint(0, 0.0)  # a good state to roll back to from the very first step
        self.finished = self.step >= cfg.train.steps
        self._set_result("steps")

    # -- after one iteration
    def record(self, stats: dict, elapsed: float, stop: str | None) -> None:
        """Book iteration ``self.step`` (its ``stats``); ``elapsed``: seconds since the loop began;
        ``stop``: why the loop stops after this iteration (None: it goes on)."""
        cfg, gan = self.cfg, self.gan
        if self.ada is not None:
            stats["aug_p"] = torch.tensor(self.ada.p)  # logged: the p this iteration used
            self.ada.observe(stats["r_t"])
        if self.ema is not None:
            self.ema.update(self.G, self.step + 1)
        self.schedules.step(elapsed)
        self.step = step = self.step + 1
        self.means.add(stats)
        elapsed = self.prior_elapsed + elapsed
        last = step >= cfg.train.steps or stop is not None
        try:
            if step % cfg.train.nan_check_every == 0:
                check_training(step, self.means.sums, {"G": self.G, "D": gan.D})
            scores = (self.evaluator(self.sampling_generator(), step)
                      if self.evaluator and self.evaluator.due(step) else {})
            if scores and self.evaluator.improved:  # the best generator by FID so far
                save_checkpoint({**training_state(self.stateful, self.generators, elapsed_s=elapsed, **self.meta),
                                 "step": step}, self.run.checkpoints / "best.pt")
            eval_due = bool(cfg.eval.every) and step % cfg.eval.every == 0
            if step % cfg.train.log_every == 0 or last or eval_due:
                self._log_row(step, elapsed, scores)
            if step % self.sample_every == 0:
                self.draw_grid(self.run.grid_path(step))
            if step % cfg.train.checkpoint_every == 0 or last:
                self.checkpoint(step, elapsed)
        except Diverged as problem:
            self.recover(problem)  # raises DivergenceError when out of rollbacks
            return
        self._set_result(stop or "steps", elapsed)
        if stop:
            self.note(step, f"stopped by {stop}; checkpoint written at step {step}", echo=False)
        if last:  # now: in a seed batch the others may go on, and this run's weights with them
            self.finished = True
            self.final_grids()

    def _log_row(self, step: int, elapsed: float, scores: dict) -> None:
        cfg = self.cfg
        partial = step % cfg.train.log_every != 0
        self.last_row = {"step": step, "elapsed_s": round(elapsed, 3),
                         **distributed.mean_floats(self.means.means()),  # over ranks too
                         **(self.health.sample_stats() if cfg.train.health else {}), **scores}
        if self.log:
            self.log.write({**self.last_row, "partial": True} if partial else self.last_row)
            self.tb.scalars(self.last_row)
        check_row(step, self.last_row)
        if not partial:  # a partial row's sums carry on in the checkpoint
            self.means.reset()
        for warning in (self.health.update(self.last_row) if cfg.train.health and not partial else []):
            self.note(step, f"warning: {warning}")

    def postfix(self) -> dict:
        """The progress bar's figures: the last log row, and any active health warning."""
        return {**{k: f"{v:.3f}" for k, v in self.last_row.items() if k not in ("step", "elapsed_s")},
                **({"health": ", ".join(self.health.active)} if self.health.active else {})}

    def _set_result(self, stopped_by: str, elapsed: float | None = None) -> None:
        self.result = TrainResult(self.run.root, self.step, self.prior_elapsed if elapsed is None else elapsed,
                                  self.last_row, stopped_by, self.rollbacks)

    # -- checkpoints
    def restore_newest(self) -> tuple[int, float]:
        state, path, skipped = self.ckpts.latest(map_location=self.device)
        for reason in skipped:
            self.note(state["step"], f"skipped an unreadable checkpoint: {reason}")
        restore_training_state(state, self.stateful, self.generators, path)
        distributed.restore_stream(self.step_fn.gen, state.get("sampler_ranks"), self.cfg.train.seed, state["step"])
        return state["step"], state.get("elapsed_s", 0.0)

    def checkpoint(self, step: int, elapsed: float) -> None:
        check_training(step, self.means.sums, {"G": self.G, "D": self.gan.D})  # never save a diverged state
        sampler_ranks = distributed.gather_states(self.step_fn.gen)  # collective: every rank calls checkpoint()
        if self.main:
            self.ckpts.save(training_state(self.stateful, self.generators, elapsed_s=elapsed,
                                           sampler_ranks=sampler_ranks, **self.meta), step)

    def recover(self, problem: Diverged) -> None:
        """Roll back to the newest good checkpoint with lower learning rates, or stop."""
        cfg = self.cfg
        if cfg.train.on_divergence == "stop" or self.rollbacks >= cfg.train.max_rollbacks:
            why = ("train.on_divergence is 'stop'" if cfg.train.on_divergence == "stop"
                   else f"already rolled back {self.rollbacks} times (train.max_rollbacks)")
            msg = (f"training diverged at step {problem.step}: {problem}; stopped because {why}. "
                   f"{self.ckpts.describe_last()}")
            self.note(problem.step, msg, echo=False)  # the CLI prints the error itself
            raise DivergenceError(msg)
        self.rollbacks += 1
        wanted = self.lr_scale.value * cfg.train.rollback_lr_factor
        self.step, _ = self.restore_newest()
        self.on_restore()
        scale_lr(self.stateful, wanted / self.lr_scale.value)
        self.lr_scale.value = wanted
        if self.log:
            self.log.rewind(self.step)
        self.note(problem.step, f"{problem}; rolled back to step {self.step} with learning rates x{wanted:g} of "
                                f"the configured ones (rollback {self.rollbacks} of {cfg.train.max_rollbacks})")

    # -- pictures
    def sampling_generator(self):
        """The network grids and evaluation draw from: the EMA of G when kept."""
        return self.ema.sampler() if self.ema is not None else self.G

    def draw_grid(self, path: Path) -> None:
        if not self.main:
            return
        net = self.sampling_generator()
        net.eval()
        with torch.no_grad():
            samples = self.kind.to_output(net(self.fixed_z, self.fixed_y), self.cfg.data.range)
        self.G.train()
        pixels = self.kind.picture(samples, nrow=self.cfg.train.grid_size, real=self.backdrop)
        save_picture(pixels, path)
        if path != self.run.final:
            self.tb.picture(self.step, pixels)

    def fail(self, error: str) -> None:
        """Stop this run alone (one seed of a batch diverged past its rollbacks): its newest good
        checkpoint stays, and its result says why."""
        self.finished = True
        self.result = TrainResult(self.run.root, self.step, self.result.elapsed_s, self.last_row, "diverged",
                                  self.rollbacks, error)

    def close_logs(self) -> None:
        if self.log:
            self.log.close()
            self.log = None

    def final_grids(self) -> None:
        """The last step's grid (when off the sampling schedule), final.png, and with ``train.gif``
        training.gif of all the grids."""
        if self.step % self.sample_every != 0:
            self.draw_grid(self.run.grid_path(self.step))
        self.draw_grid(self.run.final)
        if self.cfg.train.gif and self.main:
            from gankit.plots import training_gif

            training_gif(self.run.root)
        self.tb.close()


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
