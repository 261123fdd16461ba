"""One optimiser step for S seeds' stacked weights, each seed with its own learning rate and step count.

The seeds' weights live stacked along a new leading dimension ([S, ...]). Adam, RMSProp
and SGD act element by element, so one step over the stack is each seed's own step, once
the scalars a seed may hold apart from the others are per seed: its learning rate (a
schedule, or a rollback that lowered it) and its step count (Adam's bias correction).

Each seed's own ``torch.optim`` optimiser keeps *views* of its slice of the stacked state,
in torch's own layout (``step``, ``exp_avg``, ...): its ``state_dict()`` is what the seed's
checkpoint saves, and a single run resumes from it. After ``load_state_dict`` (resume,
rollback) replaced them, ``load(k)`` copies seed k's state back into the stack.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

# Each optimiser the registry builds (gankit/optim.py): its state tensors per parameter, and
# the hyperparameters a stacked step reads (any other non-default setting is refused).
STATE = {torch.optim.Adam: ("exp_avg", "exp_avg_sq"), torch.optim.RMSprop: ("square_avg", "momentum_buffer"),
         torch.optim.SGD: ("momentum_buffer",)}
DEFAULTS = {"weight_decay": 0, "amsgrad": False, "maximize": False, "centered": False, "nesterov": False,
            "dampening": 0, "decoupled_weight_decay": False}


def unsupported(opt: torch.optim.Optimizer) -> str | None:
    """Why ``opt`` cannot step a seed batch (None when it can)."""
    if type(opt) not in STATE:
        return f"optimizer {type(opt).__name__} (a seed batch steps Adam, RMSprop and SGD)"
    if len(opt.param_groups) != 1:
        return "an optimizer with several parameter groups"
    group = opt.param_groups[0]
    for key, default in DEFAULTS.items():
        if key in group and group[key] != default:
            return f"{type(opt).__name__} with {key}={group[key]}"
    return None


class StackedOptimizer:
    """The step of S seeds' optimisers (one per seed, all of one kind and settings) over stacked weights.

    ``params``: the stacked weights [S, ...]; ``seed_params[k]``: seed k's own parameters in
    the same order (the keys of its optimiser's state).
    """

    def __init__(self, params: list[Tensor], opts: list[torch.optim.Optimizer], seed_params: list[list[Tensor]]):
        self.params, self.opts, self.seed_params = params, opts, seed_params
        self.kind = type(opts[0])
        self.hyper = {k: v for k, v in opts[0].param_groups[0].items() if k not in ("params", "lr")}
        momentum = self.hyper.get("momentum", 0)
        names = [n for n in STATE[self.kind] if n != "momentum_buffer" or momentum > 0]
        seeds = len(opts)
        self.state = [{"step": torch.zeros(seeds, dtype=torch.float32, device=p.device),
                       **{n: torch.zeros_like(p) for n in names}} for p in params]
        for k in range(seeds):
            self.load(k)

    @torch.no_grad()
    def load(self, k: int) -> None:
        """Take seed k's state from its optimiser (fresh, or just loaded from a checkpoint), then
        point that optimiser at its slice of the stack."""
        opt = self.opts[k]
        for p, mine, state in zip(self.seed_params[k], self.params, self.state):
            own = opt.state.get(p, {})
            for name, stacked in state.items():
                value = own.get(name)
                stacked[k].copy_(value if value is not None else torch.zeros_like(stacked[k]))
            opt.state[p] = {name: stacked[k] for name, stacked in state.items()}  # views

    @torch.no_grad()
    def advance(self) -> list[tuple[Tensor, Tensor | None]]:
        """Count one more step for every seed (eagerly, before the update) and return, per
        parameter, each seed's step size and Adam's second-moment bias correction ([S] each).

        Computed here, outside the compiled update: inside it, inductor would recompute these
        per-seed powers for every element of every weight. Every parameter counts the step,
        as it does in torch when every parameter gets a gradient.
        """
        lrs = torch.tensor([opt.param_groups[0]["lr"] for opt in self.opts], dtype=torch.float64,
                           device=self.params[0].device)
        factors = []
        for state in self.state:
            step = state["step"].add_(1).double()
            if self.kind is torch.optim.Adam:
                beta1, beta2 = self.hyper["betas"]
                factors.append(((lrs / (1 - beta1 ** step)).float(), (1 - beta2 ** step).sqrt().float()))
            else:
                factors.append((lrs.float(), None))
        return factors

    @torch.no_grad()
    def step(self, grads: list[Tensor | None], factors: list[tuple[Tensor, Tensor | None]]) -> None:
        """One step of every seed with ``grads`` (aligned with ``params``; None = no gradient) and the
        ``factors`` that ``advance`` returned for it."""
        for p, g, state, (size, bias2_sqrt) in zip(self.params, grads, self.state, factors):
            if g is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)  # a per-seed scalar against [S, ...]
            if self.kind is torch.optim.Adam:
                _adam(p, g, state, size.view(shape), bias2_sqrt.view(shape), **self.hyper)
            elif self.kind is torch.optim.RMSprop:
                _rmsprop(p, g, state, size.view(shape), **self.hyper)
            else:
                _sgd(p, g, state, size.view(shape), **self.hyper)


def _adam(p, g, state, step_size, bias2_sqrt, betas, eps, **_):
    """torch.optim.Adam's update (amsgrad and weight decay off); ``step_size`` = lr / (1 - beta1^t)."""
    beta1, beta2 = betas
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    p.sub_(step_size * m / (v.sqrt() / bias2_sqrt + eps))


def _rmsprop(p, g, state, lr, alpha, eps, momentum, **_):
    """torch.optim.RMSprop's update (not centred, no weight decay)."""
    avg = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha).sqrt().add_(eps)
    if momentum > 0:
        buf = state["momentum_buffer"].mul_(momentum).addcdiv_(g, avg)
        p.sub_(lr * buf)
    else:
        p.sub_(lr * g / avg)


def _sgd(p, g, state, lr, momentum, **_):
    """torch.optim.SGD's update (no dampening, Nesterov or weight decay). A zero buffer on the first
    step gives torch's first step exactly: momentum * 0 + g."""
    if momentum > 0:
        g = state["momentum_buffer"].mul_(momentum).add_(g)
    p.sub_(lr * g)
