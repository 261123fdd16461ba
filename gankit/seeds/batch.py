"""Many seeds at the cost of one: S independent runs of a small GAN trained as one batched model.

A small MLP GAN on a CPU is bound by per-call overhead, not arithmetic: one step is a few
dozen tiny matmuls. ``SeedBatch`` stacks S copies of G's and D's weights along a new
leading dimension (``torch.func.stack_module_state``) and runs each update once for all of
them: the seeds' losses are the run's own ``Step.d_loss`` / ``Step.g_loss``, vmapped over
the seeds through ``functional_call``; their sum is differentiated once (the seeds share no
weights, so each seed's gradient is its own loss's), and one stacked optimiser step
(gankit/seeds/optim.py) is each seed's own step. Compiled, a whole update of all S seeds
is one graph, as a single run's is (gankit/fast/compiled.py).

Everything random stays per seed: each seed has the ``Step`` that ``gankit train --seed k``
builds, with its own initial weights, data order and random stream, and draws its batch,
latents and tricks' numbers from it in the same order as the single run. So seed k of a
batch is the run ``--seed k`` trained alone, up to float rounding (batched matmuls add in
another order).

Each seed's own networks and optimisers stay the ones its bookkeeping sees (EMA, grids,
health, checkpoints): their tensors are views of the seed's slice of the stack, so they
always hold the current weights and a checkpoint load writes straight into the stack.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gankit.fast.compiled import _own_code
from gankit.seeds.optim import StackedOptimizer, unsupported
from gankit.step import Step

log = logging.getLogger("gankit.seeds")
Tensor = torch.Tensor
PLAYERS = ("D", "G")


def unbatchable(step: Step) -> str | None:
    """Why a run built like ``step`` cannot train as a seed batch (None when it can)."""
    cfg, gan = step.cfg, step.gan
    for name, net in (("G", gan.G), ("D", gan.D)):
        for m in net.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                return f"{name} has dropout, which draws random numbers inside the network"
    t = cfg.tricks
    checks = [
        (step.mode == "ddp", "data-parallel training (torchrun) runs one seed per process group"),
        (cfg.train.simultaneous, "train.simultaneous updates both players from one pass; a batch runs them apart"),
        (t.d_noise_layers > 0, "tricks.d_noise_layers draws random numbers inside D"),
        (t.r1 > 0, "tricks.r1 takes a gradient inside D's loss"),
        (gan.objective.penalty_name != "none",
         f"loss.penalty={gan.objective.penalty_name} takes a gradient inside D's loss"),
        (cfg.train.unroll_steps > 0, "train.unroll_steps takes gradients inside G's loss"),
        (t.ada_target > 0 or bool(t.diffaugment), "augmentation (tricks.diffaugment, tricks.ada_target)"),
    ]
    why = next((why for bad, why in checks if bad), None)
    return why or unsupported(gan.opt_g) or unsupported(gan.opt_d)


class _Losses(nn.Module):
    """G and D under one root, so that ``functional_call`` swaps in one seed's weights of both."""

    def __init__(self, step: Step):
        super().__init__()
        self.G, self.D = step.gan.G, step.gan.D
        self.step = [step]  # in a list: not a submodule

    def forward(self, player: str, *args):
        step = self.step[0]
        return step.d_loss(*args) if player == "D" else step.g_loss(*args)


def _stack_args(args: list[tuple]) -> tuple[tuple, tuple]:
    """The seeds' argument tuples as one tuple of stacked tensors, and vmap's in_dims for it.

    Tensors stack along a new dim 0; dicts of tensors (the draws) stack key by key; None and
    empty lists (no labels, no unrolling) are the same for every seed and are not mapped.
    """
    stacked, dims = [], []
    for values in zip(*args):
        first = values[0]
        if isinstance(first, Tensor):
            stacked.append(torch.stack(values))
            dims.append(0)
        elif isinstance(first, dict):
            stacked.append({k: torch.stack([v[k] for v in values]) for k in first})
            dims.append({k: 0 for k in first})
        else:
            stacked.append(first)
            dims.append(None)
    return tuple(stacked), tuple(dims)


def _clip(name: str, grads: list[Tensor | None], max_norm: float) -> dict[str, Tensor]:
    """Each seed's global gradient norm clipped to ``max_norm`` (gankit/update.py's rule, per seed)."""
    if max_norm <= 0:
        return {}
    present = [g for g in grads if g is not None]
    norm = torch.stack([g.flatten(1).pow(2).sum(1) for g in present]).sum(0).sqrt()  # [S]
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in present:
        g.mul_(scale.view((-1,) + (1,) * (g.dim() - 1)))
    return {f"{name}_grad_norm": norm}


class SeedBatch:
    """``batch(iterations, augment_ps) -> {statistic: tensor [S]}``: one iteration of every seed's run.

    ``steps``: each seed's ``Step``, built exactly as its single run builds it. Seed k runs its
    iteration number ``iterations[k]`` (seeds drift apart after a rollback); a seed that has
    finished may ride along, its results unused.
    """

    def __init__(self, steps: list[Step], compiled: bool = True):
        self.steps, self.template = steps, steps[0]
        why = unbatchable(self.template)
        if why:
            raise ValueError(f"these seeds cannot train as one batch: {why}")
        self.losses = _Losses(self.template)
        self.weights: dict[str, Tensor] = {}  # every seed's G and D parameters and buffers, stacked
        self.params: dict[str, list[Tensor]] = {}
        self.opts: dict[str, StackedOptimizer] = {}
        for name in PLAYERS:
            nets = [getattr(s.gan, name) for s in steps]
            params, buffers = stack_module_state(nets)  # parameters are leaves with requires_grad
            for k, net in enumerate(nets):  # each seed's own tensors become views of its slice
                for key, value in net.named_parameters():
                    value.data = params[key].detach()[k]
                for key, value in net.named_buffers():
                    value.data = buffers[key][k]
            self.weights.update({f"{name}.{k}": v for k, v in {**params, **buffers}.items()})
            self.params[name] = list(params.values())
            seed_params = [list(net.parameters()) for net in nets]
            self.opts[name] = StackedOptimizer(self.params[name], [getattr(s.gan, f"opt_{name.lower()}")
                                                                   for s in steps], seed_params)
        self.max_norm = {"D": self.template.cfg.tricks.d_clip, "G": self.template.cfg.tricks.g_clip}
        self.compiled = compiled
        self.failed: str | None = None
        self._fns = {p: {name: torch.compile(_own_code(fn), fullgraph=True, dynamic=False)
                         for name, fn in (("grads", self._grads), ("step", self._step))}
                     for p in PLAYERS} if compiled else {}

    @property
    def seeds(self) -> int:
        return len(self.steps)

    def reload(self, k: int) -> None:
        """After seed k's checkpoint was loaded (resume, rollback): its networks already wrote into
        the stack (views); its optimisers' new state is copied in here."""
        for opt in self.opts.values():
            opt.load(k)

    def __call__(self, iterations: list[int], augment_ps: list[float] | None = None) -> dict[str, Tensor]:
        ps = augment_ps or [1.0] * self.seeds
        cfg = self.template.cfg
        for _ in range(cfg.train.d_steps):
            batches = [s.batches() for s in self.steps]
            stats = self._run("D", [s.d_inputs(real, y, i, p) for s, (real, y), i, p
                                    in zip(self.steps, batches, iterations, ps)])
            for s in self.steps:  # e.g. WGAN's weight clipping, on each seed's views
                s.objective.after_d_step(s.gan.D)
        shape = batches[0][0].shape
        stats.update(self._run("G", [s.g_inputs(shape, i, p) for s, i, p in zip(self.steps, iterations, ps)]))
        return stats

    def _run(self, player: str, args: list[tuple]) -> dict[str, Tensor]:
        stacked, dims = _stack_args(args)
        factors = self.opts[player].advance()  # each seed's step size: an input, so schedules do not recompile
        if self.compiled and not self.failed:
            try:
                with torch._dynamo.config.patch(trace_autograd_ops=True):
                    keys, values, grads = self._fns[player]["grads"](player, dims, *stacked)
                self._fns[player]["step"](player, grads, factors)
                return dict(zip(keys, values))
            except Exception as e:  # capture failed: the eager batch from now on
                self.failed = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"
                log.warning("seed batch: the %s update could not be compiled (%s); running it eagerly",
                            player, self.failed)
        keys, values, grads = self._grads(player, dims, *stacked)
        self._step(player, grads, factors)
        return dict(zip(keys, values))

    def _grads(self, player: str, dims: tuple, *stacked):
        """Every seed's loss, statistics and (clipped) gradients for ``player``'s weights."""
        def one_seed(weights, *args):
            return functional_call(self.losses, weights, (player, *args))

        loss, stats = vmap(one_seed, in_dims=({k: 0 for k in self.weights}, *dims),
                           randomness="error")(self.weights, *stacked)
        grads = [g.contiguous() if g is not None else None  # in the weights' layout, for the step
                 for g in torch.autograd.grad(loss.sum(), self.params[player], allow_unused=True)]
        stats = {**stats, **_clip(player, grads, self.max_norm[player])}
        keys = list(stats)
        return keys, [stats[k].detach().float() for k in keys], grads

    def _step(self, player: str, grads: list, factors: list) -> None:
        """The optimiser step: a graph of its own, so that inductor fuses it over the weights' layout
        (fused into the gradients' graph it followed their transposed layout, 3-5x slower)."""
        self.opts[player].step(grads, factors)
