"""The fast step: each optimiser update captured as one compiled graph.

One call runs forward, backward (``torch.autograd.grad`` traced into the graph) and the
Adam update, so a whole D or G update is a single compiled function: inductor's C++
kernels on CPU, one CUDA graph replay on GPU. The losses are ``GANStep.d_loss`` /
``GANStep.g_loss`` themselves: no second copy of the maths. Gradients are taken with
respect to the updated network only, so the G update never computes D's weight
gradients (``loss.backward()`` in the eager path does, then throws them away).
"""
from __future__ import annotations

import itertools
import logging
import types

import torch

from gankit.fast import adam
from gankit.step import GANStep

log = logging.getLogger("gankit.fast")
_ids = itertools.count()


def _own_code(method):
    """``method`` rebound to a private copy of its code object.

    Dynamo caches graphs per code object and guards on ``self``: without a copy, every
    new step in a process (tests, sweeps) would recompile the shared entry and, past
    ``recompile_limit``, stop compiling at all. A private copy gives each step its own
    cache, freed with it.
    """
    func = method.__func__
    code = func.__code__.replace(co_name=f"{func.__name__}_{next(_ids)}")
    clone = types.FunctionType(code, func.__globals__, code.co_name, func.__defaults__, func.__closure__)
    return types.MethodType(clone, method.__self__)


class CompiledUpdate:
    """``update(opt, loss_fn, *args)`` for one (optimizer, loss) pair, compiled on first use."""

    def __init__(self, step: GANStep, opt, loss_fn, device: torch.device):
        self.step, self.opt, self.loss_fn, self.device = step, opt, loss_fn, device
        self.failed: str | None = None
        self.calls = 0
        cuda = device.type == "cuda"
        self._prepared_state = None
        self.fn = torch.compile(_own_code(self._update), fullgraph=True, dynamic=False,
                                mode="reduce-overhead" if cuda else None)
        self.cuda = cuda

    def _prepare(self) -> None:
        """(Re)create Adam's state where the graph expects it; again after a checkpoint load
        (resume, rollback) replaces ``opt.state``."""
        adam.prepare(self.opt)
        if self.cuda:  # CUDA graphs need the tensors they write to stay at fixed addresses
            for t in adam.state_tensors(self.opt):
                torch._dynamo.mark_static_address(t)
        self._prepared_state = self.opt.state

    def _update(self, *args):
        params = adam.params(self.opt)
        with self.step.amp():
            loss, stats = self.loss_fn(*args)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        grads, clipped = self.step.tricks.clip_grads(self.opt, grads)  # tricks.g_clip / d_clip
        stats = {**stats, **clipped}
        with torch.no_grad():
            adam.step(self.opt, grads)
        keys = list(stats)
        return keys, torch.stack([stats[k].float() for k in keys])

    def __call__(self, *args) -> dict[str, torch.Tensor]:
        if self.failed:
            return GANStep.update(self.step, self.opt, self.loss_fn, *args)
        if self.opt.state is not self._prepared_state:
            self._prepare()
        if self.cuda:  # each update is its own CUDA-graph step: earlier outputs may be freed
            torch.compiler.cudagraph_mark_step_begin()
        try:
            keys, values = self.fn(*args)
        except Exception as e:  # capture failed: this update runs eagerly from now on
            if self.calls and not self.cuda:
                raise
            self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            log.warning("fast path: %s could not be compiled (%s); running it eagerly",
                        getattr(self.loss_fn, "__name__", "update"), self.failed[:300])
            return GANStep.update(self.step, self.opt, self.loss_fn, *args)
        self.calls += 1
        if self.cuda:  # the graph's output buffer is reused by its next replay
            values = values.clone()
        return dict(zip(keys, values.unbind(0)))


class FastGANStep(GANStep):
    """``GANStep`` with ``update`` swapped for compiled updates; everything else inherited."""

    def __init__(self, *args, device: torch.device, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device
        # Let dynamo trace torch.autograd.grad into the graph instead of breaking on it.
        torch._dynamo.config.trace_autograd_ops = True
        self._updates: dict[tuple[int, str], CompiledUpdate] = {}

    def update(self, opt, loss_fn, *args):
        key = (id(opt), loss_fn.__name__)
        if key not in self._updates:
            self._updates[key] = CompiledUpdate(self, opt, loss_fn, self.device)
        return self._updates[key](*args)

    @property
    def fallbacks(self) -> dict[str, str]:
        """Updates that could not be compiled, with the reason (empty when all are captured)."""
        return {name: u.failed for (_, name), u in self._updates.items() if u.failed}
