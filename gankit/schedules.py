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


class _LambdaLR(lr_scheduler.LambdaLR):
    def load_state_dict(self, state_dict):
        """Also a LinearLR's state: a run begun by steps, resumed under a time budget."""
        super().load_state_dict({"lr_lambdas": [None] * len(self.lr_lambdas), **state_dict})


class Schedules:
    """G's and D's schedulers, both following ``cfg.optim``; the loop steps them once per iteration.

    Under a time budget, ``linear`` anneals to the budget as well as to ``train.steps``, whichever
    comes first: the fraction done is max(iterations / steps, seconds / budget), so a 4-minute run
    of a preset meant for 4,000 steps still ends at ``lr_decay_end``. A run resumed under a new
    budget goes on from the lr it had and anneals what is left over that budget.
    """

    def __init__(self, cfg, opt_g, opt_d, time_budget: float | None = None):
        self.budget = time_budget if cfg.optim.lr_decay == "linear" and time_budget else None
        self.end, self.elapsed, self._start = cfg.optim.lr_decay_end, 0.0, None
        make = self._linear_to_budget if self.budget else SCHEDULES.get(cfg.optim.lr_decay)
        self.g, self.d = make(opt_g, cfg.optim, cfg.train.steps), make(opt_d, cfg.optim, cfg.train.steps)

    def _linear_to_budget(self, opt, o, total_steps: int):
        return _LambdaLR(opt, lambda t: 1 + (self.end - 1) * self.done(t, total_steps))

    def done(self, t: int, total_steps: int) -> float:
        """The fraction of a budgeted run done after ``t`` iterations (see the class)."""
        start = self._start or 0.0
        clock = start + (1 - start) * min(1.0, self.elapsed / self.budget)
        return min(1.0, max(t / max(1, total_steps), clock))

    def step(self, elapsed: float = 0.0) -> None:
        """After an iteration; ``elapsed``: seconds since this process's loop began (the budget's clock)."""
        if self.budget and self._start is None:  # first step after building or resuming: the lr's factor now
            factor = self.g.get_last_lr()[0] / self.g.base_lrs[0] if self.g.base_lrs[0] else 1.0
            self._start = min(1.0, max(0.0, (1 - factor) / (1 - self.end))) if self.end < 1 else 0.0
        self.elapsed = elapsed
        with warnings.catch_warnings():
            # The compiled update (gankit/fast) applies Adam without calling opt.step(), which
            # torch's scheduler takes for a wrong call order; the lr it sets is used all the same.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
            self.g.step()
            self.d.step()

    def stateful(self) -> dict:
        """The checkpoint entries (torch schedulers: rollbacks scale their base rates too)."""
        return {"sched_g": self.g, "sched_d": self.d}
