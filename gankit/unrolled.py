"""Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2017): G plays against D's future.

For G's update, D is updated k more times on a copy of its weights, differentiably
(``torch.func.functional_call`` on weights that stay in the autograd graph), and G's loss
is D's judgement after those k steps: f(theta_G, theta_D^k(theta_G)). G's gradient then
includes how D would react to it, which punishes moving all samples onto the mode D
currently likes least, the mechanism of mode hopping. D's own update is the usual one.

The k surrogate steps follow D's optimiser: Adam continues from its current moments
(``exp_avg``, ``exp_avg_sq``, step count), as the paper unrolls Adam; SGD is a gradient
step. They use the objective's plain D loss (no penalties or tricks) on k batches drawn
before the update.
"""
from __future__ import annotations

import torch
from torch.func import functional_call


def _step(opt, params: dict, grads: dict, k: int) -> dict:
    """One differentiable update of ``params`` as ``opt`` would make it (the k-th after its state)."""
    group = opt.param_groups[0]
    lr = group["lr"]
    if isinstance(opt, torch.optim.Adam):
        b1, b2 = group["betas"]
        out = {}
        for (name, p), g, q in zip(params.items(), grads.values(), _optimised(opt)):
            state = opt.state.get(q, {})
            t = float(state.get("step", 0)) + k
            m = b1 * state["exp_avg"] + (1 - b1) * g if "exp_avg" in state else (1 - b1) * g
            v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if "exp_avg_sq" in state else (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            out[name] = p - lr * m_hat / (_sqrt(v_hat) + group["eps"])
        return out
    return {name: p - lr * g for (name, p), g in zip(params.items(), grads.values())}


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt whose derivative is 0, not infinite, where ``v`` is 0: a weight D's loss does not move
    (a maxout piece never chosen, an input that is always 0) has v = 0 on a first Adam step, and
    autograd's inf * 0 there turned G's whole gradient into NaN."""
    positive = v > 0
    return torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


def _optimised(opt) -> list:
    return [p for group in opt.param_groups for p in group["params"]]


def unrolled_discriminator(D, opt, objective, G, batches: list) -> callable:
    """``D`` after ``len(batches)`` differentiable updates on ``batches`` = [(real, y_real, z, y_fake)],
    as a function ``(x, y) -> scores``; gradients reach G through the fakes of every step."""
    names = [n for n, _ in D.named_parameters()]
    params = dict(D.named_parameters())
    if [id(p) for p in params.values()] != [id(p) for p in _optimised(opt)]:
        raise ValueError("the unrolled D's parameters must be its optimiser's, in the same order")
    buffers = {n: b.clone() for n, b in D.named_buffers()}  # surrogate steps leave D's statistics alone

    def scores(p, x, y):
        return functional_call(D, (p, buffers), (x, y))

    for k, (real, y_real, z, y_fake) in enumerate(batches, 1):
        loss = objective.d_loss(scores(params, real, y_real), scores(params, G(z, y_fake), y_fake))
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        params = _step(opt, params, dict(zip(names, grads)), k)
    return lambda x, y=None: scores(params, x, y)
