"""One training iteration: the D update(s) and the G update, kept apart from the loop.

``GANStep`` returns detached tensors only, so the loop can accumulate statistics
without forcing a device sync every step.
"""
from __future__ import annotations

import contextlib

import torch

from gankit.config import Config
from gankit.distributed import unwrap
from gankit.images import to_float
from gankit.optim import make_optimizers  # noqa: F401  (lived here before; kept importable)
from gankit.runs import sample_z
from gankit.tricks import Tricks


class BatchSampler:
    """Random minibatches by index from a uint8 tensor that already lives on the device.

    Datasets up to ``FLOAT_POOL_BYTES`` as floats (MNIST: 188 MB) are converted once, so a
    batch is one ``index_select`` of ready rows; larger ones are converted batch by batch.
    Either way a batch holds exactly ``to_float(images[idx])``. (``images[idx]`` on a 4-D
    tensor takes advanced indexing's slow path: ~50 us against ~4 for ``index_select``.)
    """

    FLOAT_POOL_BYTES = 512 * 2 ** 20

    def __init__(self, images_u8, labels, batch_size: int, data_range: str, generator: torch.Generator):
        self.images, self.labels = images_u8, labels
        self.batch_size, self.range, self.gen = batch_size, data_range, generator
        self.pool = to_float(images_u8, data_range) if images_u8.numel() * 4 <= self.FLOAT_POOL_BYTES else None

    def __call__(self):
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=self.gen, device=self.images.device)
        y = self.labels.index_select(0, idx) if self.labels is not None else None
        if self.pool is not None:
            return self.pool.index_select(0, idx), y
        return to_float(self.images.index_select(0, idx), self.range), y


class GANStep:
    """One iteration of alternating updates: ``d_steps`` D updates, then one G update.

    Stabilisation tricks (gankit/tricks.py) enter only through ``self.tricks`` calls.
    """

    def __init__(self, cfg: Config, G, D, objective, opt_g, opt_d, num_classes: int, gen: torch.Generator):
        self.cfg, self.G, self.D, self.obj = cfg, G, D, objective
        self.opt_g, self.opt_d, self.num_classes, self.gen = opt_g, opt_d, num_classes, gen
        self.amp = contextlib.nullcontext  # mixed-precision context; gankit.fast sets bf16 autocast
        self.tricks = Tricks(cfg, unwrap(G), objective, opt_g, opt_d, gen)

    def noise(self, n: int, device):
        z = sample_z(n, self.cfg.model.z_dim, self.cfg.model.z_dist, self.gen, device)
        y = (torch.randint(self.num_classes, (n,), generator=self.gen, device=device)
             if self.num_classes else None)
        return z, y

    def d_loss(self, real, y_real, z, y_fake, draws):
        """D's objective on one batch: (loss, detached stats). The fast path compiles this too.

        ``draws``: the tricks' random inputs (instance noise, soft targets), drawn beforehand.
        """
        with torch.no_grad():
            fake = self.G(z, y_fake)
        real = self.tricks.d_input(real, draws.get("noise_real"), real=True)  # instance noise
        fake = self.tricks.d_input(fake, draws.get("noise_fake"))
        real_out, fake_out = self.D(real, y_real), self.D(fake, y_fake)
        loss = self.obj.d_loss(real_out, fake_out, **self.tricks.targets(draws))
        extra = {**self.obj.d_extra(unwrap(self.D), real, fake, y_real, y_fake),  # penalties, class loss
                 **self.tricks.d_penalties(real, real_out)}  # R1
        return loss + sum(extra.values()), {
            "D_loss": loss.detach(), "D(x)": self.obj.prob(real_out.detach()).mean(),
            "D(G(z))": self.obj.prob(fake_out.detach()).mean(), **_detached(extra)}

    def g_loss(self, z, y, draws):
        # D's grads from this loss are never used (the eager path zeroes them before the next D
        # step), so the plain D runs: under DDP no all-reduce is spent on them.
        D = unwrap(self.D)
        fake = self.G(z, y)
        loss = self.obj.g_loss(D(self.tricks.d_input(fake, draws.get("noise_fake")), y))
        extra = {**self.obj.g_extra(D, fake, y),  # e.g. pulling-away term, class loss
                 **self.tricks.g_terms(fake, z)}  # mode seeking
        return loss + sum(extra.values()), {"G_loss": loss.detach(), **_detached(extra)}

    def update(self, opt, loss_fn, *args):
        """One optimiser step on ``loss_fn(*args)``; ``gankit.fast`` swaps in a compiled one."""
        with self.amp():
            loss, stats = loss_fn(*args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        stats.update(self.tricks.clip(opt))  # gradient clipping, before the step
        opt.step()
        return {k: v.float() for k, v in stats.items()}  # bf16 stats would round when summed

    def d_step(self, real, y_real):
        z, y_fake = self.noise(real.shape[0], real.device)
        stats = self.update(self.opt_d, self.d_loss, real, y_real, z, y_fake, self.tricks.d_draws(real))
        self.obj.after_d_step(unwrap(self.D))  # e.g. WGAN's weight clipping (eager and compiled alike)
        return stats

    def g_step(self, shape: torch.Size, device):
        """One G update on fresh noise; ``shape`` is the batch's image shape [N, C, H, W]."""
        z, y = self.noise(shape[0], device)
        return self.update(self.opt_g, self.g_loss, z, self.tricks.pair_labels(y), self.tricks.g_draws(shape, device))

    def __call__(self, sampler: BatchSampler) -> dict[str, torch.Tensor]:
        for _ in range(self.cfg.train.d_steps):
            real, y = sampler()
            stats = self.d_step(real, y)
        stats.update(self.g_step(real.shape, real.device))
        self.tricks.end_iteration(unwrap(self.G))  # EMA of G, lr schedules, instance-noise clock
        return stats


def _detached(terms: dict) -> dict:
    return {k: v.detach() for k, v in terms.items()}
