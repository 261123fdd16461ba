"""One training iteration: ``train.d_steps`` D updates, then one G update (or, with
``train.simultaneous``, one D and one G update from a single forward pass).

``build_step`` makes the step once per run and decides there how it runs: eager, with
each update compiled (gankit/fast), or data-parallel under torchrun; in which precision,
and on how many CPU threads. The maths below is the same for all of them: a step's
``update`` only decides how one player's loss becomes new weights (gankit/update.py).
"""
from __future__ import annotations

import logging

import torch

from gankit import distributed
from gankit.config import Config
from gankit.errors import ConfigError
from gankit.data.batches import BatchSampler
from gankit.fast import dftconv
from gankit.fast.compiled import CompiledUpdate, why_eager
from gankit.fast.tuning import amp_context, resolve_precision, run_threads, to_channels_last
from gankit.gan import GAN
from gankit.tricks import Tricks
from gankit.unrolled import unrolled_discriminator
from gankit.update import EagerUpdate, Player, clip

log = logging.getLogger("gankit.step")
_logged: set[str] = set()


class Step:
    """``step(iteration) -> {statistic: detached tensor}``, one iteration of alternating updates
    (simultaneous ones with ``train.simultaneous``: ``simultaneous_step``).

    ``G`` and ``D`` are the networks as the updates run them (DDP wrappers under torchrun,
    else ``gan.G`` / ``gan.D``). Statistics stay on the device: the loop decides when to sync.
    """

    def __init__(self, cfg: Config, gan: GAN, batches: BatchSampler, update, G=None, D=None, *,
                 mode: str = "eager", precision: str = "fp32", threads: int = 0, dft_layers: list[str] | tuple = ()):
        self.cfg, self.gan, self.batches, self.update = cfg, gan, batches, update
        self.G = G if G is not None else gan.G
        self.D = D if D is not None else gan.D
        self.mode, self.precision, self.threads = mode, precision, threads
        self.dft_layers = list(dft_layers)  # layers computed through the DFT (build_step; gankit/fast/dftconv.py)
        self.gen = batches.gen  # one stream for data, latents and the tricks' draws
        self.objective, self.latents = gan.objective, gan.latents
        self.tricks = Tricks(cfg, gan.objective, self.gen)
        # ADA's r_t = E[sign(D(x_real))]: ADA needs it; on a small subset (data.limit) it shows overfitting
        self.logs_r_t = self.tricks.adaptive or (cfg.data.limit > 0 and gan.objective.boundary is not None)
        self.d_player = Player("D", gan.opt_d, cfg.tricks.d_clip)
        self.g_player = Player("G", gan.opt_g, cfg.tricks.g_clip)

    def __call__(self, iteration: int, augment_p: float = 1.0) -> dict[str, torch.Tensor]:
        """Run iteration number ``iteration`` (0-based: what the instance-noise schedule follows);
        ``augment_p``: adaptive augmentation's probability (the loop's, gankit/ada.py)."""
        if self.cfg.train.simultaneous:
            return self.simultaneous_step(*self.batches(), iteration, augment_p)
        for _ in range(self.cfg.train.d_steps):
            real, y = self.batches()
            stats = self.d_step(real, y, iteration, augment_p)
        stats.update(self.g_step(real.shape, iteration, augment_p))
        return stats

    def d_step(self, real, y_real, iteration: int, augment_p: float = 1.0):
        stats = self.update(self.d_player, self.d_loss, *self.d_inputs(real, y_real, iteration, augment_p))
        self.objective.after_d_step(self.gan.D)  # e.g. WGAN's weight clipping (eager and compiled alike)
        return stats

    def g_step(self, shape: torch.Size, iteration: int, augment_p: float = 1.0):
        return self.update(self.g_player, self.g_loss, *self.g_inputs(shape, iteration, augment_p))

    def simultaneous_step(self, real, y_real, iteration: int, augment_p: float = 1.0) -> dict[str, torch.Tensor]:
        """``train.simultaneous``: one D and one G update from one forward pass, as the TensorFlow DCGAN
        tutorial's ``train_step`` (two GradientTapes over one pass, then both ``apply_gradients``).

        G runs once; D scores the real batch and that fake batch once; D's loss is differentiated
        with respect to D's weights and G's loss with respect to G's weights on that one graph, and
        only then does either optimiser step: G's gradient is the one of the D before D's update.
        Always eager (the fast path captures one player's update at a time: ``why_eager``).
        """
        real, y_real, z, y_fake, draws = self.d_inputs(real, y_real, iteration, augment_p)
        with self.update.amp():
            fake = self.G(z, y_fake)
            d_loss, d_stats, fake_out = self._d_objective(real, y_real, fake, y_fake, draws)
            g_loss, g_stats = self._g_objective(fake, fake_out, z, y_fake)
        d_grads = torch.autograd.grad(d_loss, self.d_player.params(), retain_graph=True, allow_unused=True)
        g_grads = torch.autograd.grad(g_loss, self.g_player.params(), allow_unused=True)
        stats = {**d_stats, **g_stats}
        for player, grads in ((self.d_player, list(d_grads)), (self.g_player, list(g_grads))):
            stats.update(clip(player, grads))
            for p, g in zip(player.params(), grads):
                p.grad = g
            player.opt.step()
        self.objective.after_d_step(self.gan.D)
        return {k: v.float() for k, v in stats.items()}

    def d_inputs(self, real, y_real, iteration: int, augment_p: float = 1.0) -> tuple:
        """``d_loss``'s arguments for one D update on ``real``: every random number is drawn here,
        in one fixed order (what lets a seed batch, gankit/seeds.py, replay a single run)."""
        z, y_fake = self.latents.draw(real.shape[0], self.gen, iteration=iteration)
        self._d_latents = z, y_fake  # train.same_z: the G update of this iteration reuses them
        draws = {**self.tricks.d_draws(real, iteration, augment_p),
                 **self.objective.d_draws(real.shape[0], self.gen, real.device)}
        return real, y_real, z, y_fake, draws

    def g_inputs(self, shape: torch.Size, iteration: int, augment_p: float = 1.0) -> tuple:
        """``g_loss``'s arguments for one G update: fresh latents (and a fresh real batch when G's loss
        reads D on real data; ``train.unroll_steps`` more batches and latents for the unrolled D)."""
        z, y = self._d_latents if self.cfg.train.same_z else self.latents.draw(shape[0], self.gen, iteration=iteration)
        real, y_real = self.batches() if self.objective.g_uses_real else (None, None)
        draws = self.tricks.g_draws(shape, self.gen.device, iteration, real=real is not None, augment_p=augment_p)
        unroll = [(*self.batches(), *self.latents.draw(shape[0], self.gen, iteration=iteration))
                  for _ in range(self.cfg.train.unroll_steps)]
        return z, self.tricks.pair_labels(y), real, y_real, draws, unroll

    def d_loss(self, real, y_real, z, y_fake, draws):
        """D's objective on one batch: (loss, detached stats). The fast path compiles this too.

        ``draws``: every random input but the batch and the latents (instance noise, soft targets,
        the gradient penalty's mixing weights), drawn beforehand.
        """
        with torch.no_grad():
            fake = self.G(z, y_fake)
        loss, stats, _ = self._d_objective(real, y_real, fake, y_fake, draws)
        return loss, stats

    def _d_objective(self, real, y_real, fake, y_fake, draws):
        """D's loss on a real and a fake batch: (loss, detached stats, D's output on the fakes)."""
        real = self.tricks.d_input(real, draws, "real", r1=True)  # augmentation, instance noise
        fake = self.tricks.d_input(fake, draws, "fake")
        real_out, fake_out = self.D(real, y_real), self.D(fake, y_fake)
        loss = self.objective.d_loss(real_out, fake_out, **self.tricks.targets(draws))
        # penalty, class loss (on the fakes as data: a simultaneous step's fakes still hang on G), R1
        extra = {**self.objective.d_extra(self.gan.D, real, fake.detach(), y_real, y_fake, draws),
                 **self.tricks.d_penalties(real, real_out)}
        return loss + sum(extra.values()), {
            "D_loss": loss.detach(), "D(x)": self.objective.prob(real_out.detach()).mean(),
            "D(G(z))": self.objective.prob(fake_out.detach()).mean(), **_detached(extra),
            **({"r_t": self.objective.real_sign(real_out, fake_out)} if self.logs_r_t else {})}, fake_out

    def g_loss(self, z, y, real, y_real, draws, unroll=()):
        # D's grads from this loss are never used (the eager path zeroes them before the next D
        # step), so the plain D runs: under DDP no all-reduce is spent on them. With unrolling,
        # G is judged by D after len(unroll) differentiable updates (gankit/unrolled.py).
        D = (unrolled_discriminator(self.gan.D, self.gan.opt_d, self.objective, self.G, unroll) if unroll
             else self.gan.D)
        fake = self.G(z, y)
        fake_out = D(self.tricks.d_input(fake, draws, "fake"), y)
        real_out = None
        if real is not None:  # relativistic losses: D's view of real data, a constant for G
            with torch.no_grad():
                real_out = D(self.tricks.d_input(real, draws, "real"), y_real)
        return self._g_objective(fake, fake_out, z, y, real_out)

    def _g_objective(self, fake, fake_out, z, y, real_out=None):
        """G's loss given D's output on G's batch ``fake``: (loss, detached stats)."""
        loss = self.objective.g_loss(fake_out, real_out)
        extra = {**self.objective.g_extra(self.gan.D, fake, y),  # e.g. pulling-away term, class loss
                 **self.tricks.g_terms(fake, z)}  # mode seeking
        return loss + sum(extra.values()), {"G_loss": loss.detach(), **_detached(extra)}

    @property
    def fallbacks(self) -> dict[str, str]:
        """Updates the compiled path had to run eagerly, with the reason (empty when none)."""
        return getattr(self.update, "fallbacks", {})


def _detached(terms: dict) -> dict:
    return {k: v.detach() for k, v in terms.items()}


def build_step(cfg: Config, gan: GAN, data, device: torch.device, eager: bool = False) -> Step:
    """The run's step over ``data`` (a dataset in memory), with every machine-dependent choice made here.

    ``eager``: the eager update whatever the config says (a seed batch, gankit/seeds, runs the
    updates itself and only asks each seed's step for its inputs).

    Under torchrun the networks are wrapped in DDP and each rank draws its share of
    ``train.batch_size`` from its own stream; the eager update runs, since DDP averages
    gradients in backward hooks that the compiled update (autograd.grad) never fires.
    Alone, the update is compiled unless ``why_eager`` names a reason, logged once.
    """
    precision = resolve_precision(cfg.train.precision, device)
    amp = amp_context(precision, device)
    gen = torch.Generator(device=device).manual_seed(distributed.rank_seed(cfg.train.seed))
    labels = data.labels.to(device) if gan.latents.num_classes else None
    batches = BatchSampler(data.samples.to(device), labels, distributed.local_batch(cfg.train.batch_size),
                           cfg.data.range, gen, data.kind)
    if distributed.is_enabled():
        if cfg.train.simultaneous:
            raise ConfigError("train.simultaneous runs in one process: under torchrun, DDP averages gradients in "
                              "backward hooks, and its torch.autograd.grad never fires them")
        G, D = distributed.wrap(gan.G, gan.D, device, cfg.train.sync_batchnorm)
        # torchrun already gave each process its share of the cores (OMP_NUM_THREADS)
        return Step(cfg, gan, batches, EagerUpdate(amp), G, D, mode="ddp", precision=precision,
                    threads=cfg.train.threads or torch.get_num_threads())
    threads = run_threads(cfg, gan.G, gan.D, device, gan.latents.num_classes)
    reason = "the seed batch runs the updates" if eager else why_eager(cfg, device, gan.opt_g, gan.opt_d)
    if reason is None:
        dft_layers = []
        if device.type == "cpu":  # on CUDA, channels_last broke inductor's stride checks in the G update
            to_channels_last(gan.G, gan.D)
            if precision == "fp32" and cfg.train.dft_conv:  # less arithmetic on small maps (gankit/fast/dftconv.py)
                dft_layers = dftconv.adopt(gan.G, gan.D, cfg.model.z_dim, device, gan.latents.num_classes)
        return Step(cfg, gan, batches, CompiledUpdate(amp, device), mode="compiled", precision=precision,
                    threads=threads, dft_layers=dft_layers)
    if cfg.train.compile and not eager and reason not in _logged:
        _logged.add(reason)
        log.warning("fast path off: %s; using the eager step", reason)
    return Step(cfg, gan, batches, EagerUpdate(amp), mode="eager", precision=precision, threads=threads)
