"""The compiled update: one player's whole update captured as one graph.

One call runs forward, backward (``torch.autograd.grad`` traced into the graph) and the
Adam update, so a whole D or G update is a single compiled function: inductor's C++
kernels on CPU, one CUDA graph replay on GPU. The losses are the step's own ``d_loss`` /
``g_loss`` and the clipping is ``gankit.update.clip``: no second copy of the maths.
Gradients are taken with respect to the updated network only, so the G update never
computes D's weight gradients (``loss.backward()`` in the eager update does, then throws
them away).
"""
from __future__ import annotations

import itertools
import logging
import types
from typing import Callable

import torch

from gankit.fast import adam
from gankit.update import EagerUpdate, Player, clip

log = logging.getLogger("gankit.fast")
_ids = itertools.count()


def why_eager(cfg, device: torch.device, opt_g, opt_d) -> str | None:
    """None when the updates can be compiled, else why the eager update is used."""
    if not cfg.train.compile:
        return "train.compile=false"
    if cfg.train.simultaneous:
        return "train.simultaneous (one forward pass for both updates; the fast path captures one player's at a time)"
    if device.type not in ("cpu", "cuda"):
        return f"device {device.type} (the fast path compiles for cpu and cuda)"
    if not hasattr(torch, "compile"):
        return "torch.compile is not available in this torch"
    for opt in (opt_g, opt_d):
        reason = adam.supports(opt)
        if reason:
            return reason
    return None


def _own_code(method):
    """``method`` rebound to a private copy of its code object.

    Dynamo caches graphs per code object and guards on ``self``: without a copy, every
    new step in a process (tests, sweeps) would recompile the shared entry and, past
    ``recompile_limit``, stop compiling at all. A private copy gives each update its own
    cache, freed with it.
    """
    func = method.__func__
    code = func.__code__.replace(co_name=f"{func.__name__}_{next(_ids)}")
    clone = types.FunctionType(code, func.__globals__, code.co_name, func.__defaults__, func.__closure__)
    return types.MethodType(clone, method.__self__)


class _CompiledFn:
    """One (player, loss) pair's update, compiled on first use; eager from the first failure on."""

    def __init__(self, player: Player, loss_fn: Callable, amp, device: torch.device, eager: EagerUpdate):
        self.player, self.loss_fn, self.amp, self.eager, self.device = player, loss_fn, amp, eager, device
        self.cuda = device.type == "cuda"
        self.failed: str | None = None
        self.calls = 0
        self._prepared_state = None
        self.fn = torch.compile(_own_code(self._update), fullgraph=True, dynamic=False,
                                mode="reduce-overhead" if self.cuda else None)
        # Dynamo reads this while tracing: it lets torch.autograd.grad into the graph. Entered
        # around each call (~10 us), never set for the whole process.
        self._trace_grad = torch._dynamo.config.patch(trace_autograd_ops=True)

    def _prepare(self) -> None:
        """(Re)create Adam's state where the graph expects it; again after a checkpoint load
        (resume, rollback) replaces ``opt.state``."""
        opt = self.player.opt
        adam.prepare(opt)
        self.params, self.groups = self.player.params(), adam.groups(opt)  # read here, not in the graph
        if self.cuda:  # CUDA graphs need the tensors they write to stay at fixed addresses
            for t in adam.state_tensors(opt):
                torch._dynamo.mark_static_address(t)
        self._prepared_state = opt.state

    def _update(self, lrs, *args):
        with self.amp():
            loss, stats = self.loss_fn(*args)
        grads = list(torch.autograd.grad(loss, self.params, allow_unused=True))
        stats = {**stats, **clip(self.player, grads)}
        with torch.no_grad():
            adam.step(self.groups, self.player.opt.state, grads, lrs)
        keys = list(stats)
        return keys, torch.stack([stats[k].float() for k in keys])

    def __call__(self, *args) -> dict[str, torch.Tensor]:
        if self.failed:
            return self.eager(self.player, self.loss_fn, *args)
        if self.player.opt.state is not self._prepared_state:
            self._prepare()
        if self.cuda:  # each update is its own CUDA-graph step: earlier outputs may be freed
            torch.compiler.cudagraph_mark_step_begin()
        try:
            with self._trace_grad:
                keys, values = self.fn(adam.learning_rates(self.player.opt).to(self.device), *args)
        except Exception as e:  # capture failed: this update runs eagerly from now on
            if self.calls and not self.cuda:
                raise
            self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            log.warning("fast path: %s could not be compiled (%s); running it eagerly",
                        getattr(self.loss_fn, "__name__", "update"), self.failed[:300])
            return self.eager(self.player, self.loss_fn, *args)
        self.calls += 1
        if self.cuda:  # the graph's output buffer is reused by its next replay
            values = values.clone()
        return dict(zip(keys, values.unbind(0)))


class CompiledUpdate:
    """``update(player, loss_fn, *args)`` with each (player, loss) pair compiled on first use."""

    def __init__(self, amp, device: torch.device):
        self.amp, self.device = amp, device
        self.eager = EagerUpdate(amp)
        self._fns: dict[tuple[str, str], _CompiledFn] = {}

    def __call__(self, player: Player, loss_fn: Callable, *args) -> dict[str, torch.Tensor]:
        key = (player.name, loss_fn.__name__)
        if key not in self._fns:
            self._fns[key] = _CompiledFn(player, loss_fn, self.amp, self.device, self.eager)
        return self._fns[key](*args)

    @property
    def fallbacks(self) -> dict[str, str]:
        """Updates that could not be compiled, with the reason (empty when all are captured)."""
        return {loss: fn.failed for (_, loss), fn in self._fns.items() if fn.failed}
