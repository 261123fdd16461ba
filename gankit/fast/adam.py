"""Adam's update as a traceable function over a ``torch.optim.Adam``'s own state.

``Optimizer.step`` deliberately breaks ``torch.compile`` graphs, so the compiled update
calls torch's functional ``adam`` (the same code ``Adam.step`` runs) on the optimiser's
param groups and state. The state keeps Adam's layout, so checkpoints written with and
without the fast path load into each other.
"""
from __future__ import annotations

import torch
from torch.optim.adam import adam as functional_adam


def supports(opt) -> str | None:
    """None when ``opt`` can be updated here, else the reason it cannot."""
    if type(opt) is not torch.optim.Adam:
        return f"optimizer {type(opt).__name__} (only torch.optim.Adam is captured)"
    for group in opt.param_groups:
        if group.get("differentiable") or torch.is_tensor(group["lr"]):
            return "Adam with differentiable=True or a tensor lr"
    return None


def prepare(opt) -> None:
    """Create Adam's state up front (as its first ``step`` would) so the graph can read it.

    The step counter lives on the parameter's device and the groups become 'capturable',
    which is what lets a CUDA graph own the whole update.
    """
    for group in opt.param_groups:
        on_gpu = any(p.device.type != "cpu" for p in group["params"])
        if on_gpu:
            group["capturable"] = True
        for p in group["params"]:
            state = opt.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if on_gpu else "cpu")
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            elif on_gpu and state["step"].device != p.device:
                state["step"] = state["step"].to(p.device)


def state_tensors(opt) -> list[torch.Tensor]:
    return [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t)]


def learning_rates(opt) -> torch.Tensor:
    """Every param group's current lr as one float64 tensor: what the compiled update takes as
    an input, so a schedule or a rollback that changes the lr does not recompile the graph."""
    return torch.tensor([group["lr"] for group in opt.param_groups], dtype=torch.float64)


def groups(opt) -> list[tuple[list[torch.Tensor], dict]]:
    """Each param group's parameters and its fixed hyperparameters, read once outside the graph.

    Dynamo guards on every value of a dict the graph reads: reading ``param_groups`` inside it
    would bake the current lr in as a constant and recompile whenever a schedule changes it.
    """
    fixed = ("betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
    return [(list(g["params"]), {k: g.get(k, False) for k in fixed}) for g in opt.param_groups]


def step(param_groups, state, grads, lrs: torch.Tensor) -> None:
    """``Adam.step()`` with ``grads`` (aligned with the groups' parameters; None = no gradient) at
    the learning rates ``lrs`` (one per group), on ``state`` (the optimiser's own)."""
    i = 0
    for k, (group_params, h) in enumerate(param_groups):
        ps, gs = [], []
        for p in group_params:
            if grads[i] is not None:
                ps.append(p)
                gs.append(grads[i])
            i += 1
        if not ps:
            continue
        states = [state[p] for p in ps]
        functional_adam(
            ps, gs, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if h["amsgrad"] else [],
            [s["step"] for s in states],
            foreach=True, capturable=True, amsgrad=h["amsgrad"],
            beta1=h["betas"][0], beta2=h["betas"][1], lr=lrs[k],
            weight_decay=h["weight_decay"], eps=h["eps"], maximize=h["maximize"],
            decoupled_weight_decay=h["decoupled_weight_decay"],
        )
