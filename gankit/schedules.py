"""Learning-rate decay for G and D (``optim.lr_decay``), one registered torch scheduler each.

Schedulers step once per iteration (after the G update), so ``lr_decay_every`` and
``train.steps`` count the same thing. Each factory returns a ``torch.optim.lr_scheduler``
whose ``state_dict`` goes into the checkpoint, so a resumed run continues the schedule.
"""
from __future__ import annotations

import re
import warnings

from torch.optim import lr_scheduler

from gankit.registry import Registry

SCHEDULES: Registry = Registry("lr schedule")


@SCHEDULES.register("none")
def constant(opt, o, total_steps: int):
    """constant learning rate"""
    return lr_scheduler.LambdaLR(opt, lambda step: 1.0)


@SCHEDULES.register("exponential")
def exponential(opt, o, total_steps: int):
    """lr * gamma ** (t / every): a smooth version of 'step'"""
    return lr_scheduler.ExponentialLR(opt, gamma=o.lr_decay_gamma ** (1.0 / o.lr_decay_every))


@SCHEDULES.register("step")
def step(opt, o, total_steps: int):
    """lr * gamma ** floor(t / every)"""
    return lr_scheduler.StepLR(opt, step_size=o.lr_decay_every, gamma=o.lr_decay_gamma)


@SCHEDULES.register("linear")
def linear(opt, o, total_steps: int):
    """lr falls linearly to lr * lr_decay_end at train.steps"""
    return lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=o.lr_decay_end,
                                 total_iters=max(1, total_steps))


class Schedules:
    """G's and D's schedulers, both following ``cfg.optim``; the loop steps them once per iteration."""

    def __init__(self, cfg, opt_g, opt_d):
        make = SCHEDULES.get(cfg.optim.lr_decay)
        self.g, self.d = make(opt_g, cfg.optim, cfg.train.steps), make(opt_d, cfg.optim, cfg.train.steps)

    def step(self) -> None:
        with warnings.catch_warnings():
            # The compiled update (gankit/fast) applies Adam without calling opt.step(), which
            # torch's scheduler takes for a wrong call order; the lr it sets is used all the same.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
            self.g.step()
            self.d.step()

    def stateful(self) -> dict:
        """The checkpoint entries (torch schedulers: rollbacks scale their base rates too)."""
        return {"sched_g": self.g, "sched_d": self.d}
