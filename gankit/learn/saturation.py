"""Saturation (Goodfellow et al. 2014, sec. 3; the first tutorial's two G losses).

Early in training G's samples are poor and D rejects them with confidence: D(G(z)) ~ 0.
The minimax G loss log(1 - D(G(z))) has gradient -D(G(z)) with respect to D's logit, so it
vanishes there and G barely learns; the non-saturating loss -log D(G(z)) has gradient
-(1 - D(G(z))) ~ -1 and G moves at full speed. Here G is a shift and scale of z,
x = a z + b, started far from the data; D is first trained to reject it (as it does in a
real run's first steps); then both G losses (gankit's ``minimax`` and ``nonsaturating``
objectives) train from the same start, G by plain gradient descent so that its step is
proportional to its gradient, as in the paper's argument.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import Gaussian, critic, save
from gankit.losses import LOSSES
from gankit.plots import _plt

DATA = Gaussian(2.0, 0.5)
G_START = (0.5, -2.0)  # G's scale a and shift b


class ShiftScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(G_START[0])), nn.Parameter(torch.tensor(G_START[1]))

    def forward(self, z):
        return self.a * z + self.b


def play(g_loss: str, seed: int, warmup: int = 300, steps: int = 300, batch: int = 256, g_lr: float = 0.05):
    """(G's gradient norm per step, G's mean per step, D(G(z)) per step) for one G loss."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = ShiftScale(), critic()
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    opt_g = torch.optim.SGD(G.parameters(), lr=g_lr)
    d_obj, g_obj = LOSSES.get("nonsaturating")(), LOSSES.get(g_loss)()

    def d_step():
        with torch.no_grad():
            fake = G(torch.randn(batch, 1, generator=gen))
        loss = d_obj.d_loss(D(DATA.sample(batch, gen)).squeeze(1), D(fake).squeeze(1))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    for _ in range(warmup):  # D learns to reject the initial G, as in the first steps of a run
        d_step()
    norms, means, d_fake = [], [], []
    for _ in range(steps):
        d_step()
        out = D(G(torch.randn(batch, 1, generator=gen))).squeeze(1)
        loss = g_obj.g_loss(out)
        opt_g.zero_grad()
        loss.backward()
        norms.append(float(torch.sqrt(sum(p.grad.pow(2).sum() for p in G.parameters()))))
        means.append(G.b.item())
        d_fake.append(float(torch.sigmoid(out.detach()).mean()))
        opt_g.step()
    return norms, means, d_fake


@LESSONS.register("saturation", "the minimax G loss gives vanishing gradients early on, the non-saturating one does not")
def saturation(out_dir: Path, seed: int = 0) -> Lesson:
    runs = {name: play(name, seed) for name in ("minimax", "nonsaturating")}
    first = 20  # the first G steps, while D still rejects G
    early = {name: sum(r[0][:first]) / first for name, r in runs.items()}
    numbers = {"early_grad_norm_minimax": early["minimax"], "early_grad_norm_nonsaturating": early["nonsaturating"],
               "early_d_of_g": runs["nonsaturating"][2][0],
               "final_mean_minimax": runs["minimax"][1][-1], "final_mean_nonsaturating": runs["nonsaturating"][1][-1],
               "data_mean": DATA.mean}

    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"minimax": "#d62728", "nonsaturating": "#2ca02c"}
    labels = {"minimax": "minimax: log(1 - D(G(z)))", "nonsaturating": "non-saturating: -log D(G(z))"}
    for name, (norms, means, _) in runs.items():
        left.semilogy(norms, color=colours[name], label=labels[name])
        right.plot(means, color=colours[name], label=labels[name])
    left.set(xlabel="G step", ylabel="|grad of G's loss| (log scale)", title="G's gradient while D rejects it")
    right.axhline(DATA.mean, color="k", ls="--", label="the data's mean")
    right.set(xlabel="G step", ylabel="mean of G's samples (b)", title="where G's samples go")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    path = save(fig, out_dir, "saturation")
    ratio = early["nonsaturating"] / early["minimax"]
    return Lesson("saturation", path, numbers,
                  f"while D rejects G (D(G(z)) = {numbers['early_d_of_g']:.3f}), the non-saturating loss gives G a "
                  f"{ratio:.0f}x larger gradient; after {len(runs['minimax'][1])} steps G's mean is "
                  f"{numbers['final_mean_nonsaturating']:.2f} with it and {numbers['final_mean_minimax']:.2f} with "
                  f"the minimax loss (data: {DATA.mean})")
