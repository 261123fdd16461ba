"""Mode collapse, frame by frame (Goodfellow 2016, sec. 5.1.1; Metz et al. 2017; Lin et al. 2018).

On a mixture of 8 Gaussians on a ring (gankit's ``ring8``), a vanilla GAN (gankit's
``nonsaturating`` objective) rarely spreads over all modes: D learns that G's current
spot is fake, G moves all its samples to the spot D now prefers, D follows, and G's mass
hops from mode to mode. PacGAN's fix lets D judge m samples at once, concatenated along
features (gankit's ``PackedD``, the same wrapper as ``model.pack``): m samples of a G
that sits near one mode look alike, m real ones do not, so D can tell them apart and G
is pushed to spread out. Both runs here use the same small MLPs, seed, batches, latents,
optimiser and number of steps; only D's view differs. Every few hundred steps the lesson
records G's samples on fixed latents and the modes they cover by gankit's high-quality
rule (a sample within 3 standard deviations of a mode's centre, ``PointSet.modes_of``, as
``gankit eval`` counts modes captured).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from gankit.data import load_dataset
from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import save
from gankit.losses import LOSSES
from gankit.models.packing import PackedD
from gankit.plots import _plt

PACK = 2  # PacGAN2
Z_DIM, WIDTH, BATCH = 16, 128, 256
STEPS, FRAMES, SAMPLES = 2000, 8, 1000


class Critic(nn.Module):
    """A small MLP D on (packed) 2D points, with the features/head split ``PackedD`` wraps."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_dim, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU())
        self.out = nn.Linear(WIDTH, 1)
        self.feature_dim = WIDTH

    def features(self, x, y=None):
        return self.body(x)

    def head(self, h, y=None):
        return self.out(h).squeeze(1)

    def forward(self, x, y=None):
        return self.head(self.features(x))


def generator() -> nn.Module:
    return nn.Sequential(nn.Linear(Z_DIM, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(),
                         nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 2))


def train(pack: int, seed: int, steps: int = STEPS, frames: int = FRAMES):
    """(ring, [(step, G's samples on the fixed latents)] at ``frames`` evenly spaced steps) for D's pack size
    ``pack`` (1: the vanilla GAN). Both learning rates decay linearly to a tenth over the run."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ring = load_dataset("ring8", seed=seed)
    G, D = generator(), PackedD(Critic(2 * pack), pack)
    objective = LOSSES.get("nonsaturating")()
    opt_g, opt_d = (torch.optim.Adam(n.parameters(), lr=1e-3, betas=(0.5, 0.999)) for n in (G, D))
    decay = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1 - 0.9 * i / steps) for o in (opt_g, opt_d)]
    z_fixed = torch.randn(SAMPLES, Z_DIM, generator=gen)
    every = max(1, steps // frames)
    snapshots = []
    for step in range(1, steps + 1):
        real = ring.points[torch.randint(len(ring.points), (BATCH,), generator=gen)]
        fake = G(torch.randn(BATCH, Z_DIM, generator=gen))
        out = D(torch.cat([real, fake.detach()]))  # one pass: the first BATCH / pack scores are the real packs
        loss = objective.d_loss(out[:BATCH // pack], out[BATCH // pack:])
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        loss = objective.g_loss(D(fake))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        for s in decay:
            s.step()
        if step % every == 0 and len(snapshots) < frames:
            with torch.no_grad():
                snapshots.append((step, G(z_fixed)))
    return ring, snapshots


def describe(ring, snapshots) -> dict:
    """Per frame: the modes covered (a high-quality sample on them), the share of high-quality samples,
    and the mode nearest to most samples and their share (where G's mass sits, high quality or not)."""
    covered, quality, busiest, busiest_share = [], [], [], []
    for _, x in snapshots:
        hq = ring.modes_of(x)
        covered.append(sorted(hq.unique().tolist()))
        quality.append(len(hq) / len(x))
        counts = torch.cdist(x, ring.modes).argmin(1).bincount(minlength=len(ring.modes))
        busiest.append(int(counts.argmax()))
        busiest_share.append(float(counts.max()) / len(x))
    return {"covered": covered, "modes": [len(c) for c in covered], "high_quality": quality,
            "busiest_mode": busiest, "busiest_share": busiest_share}


@LESSONS.register("mode-collapse",
                  "frames of mode collapse: vanilla's samples hop from mode to mode, PacGAN holds all 8")
def mode_collapse(out_dir: Path, seed: int = 0, steps: int = STEPS, frames: int = FRAMES) -> Lesson:
    t, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # as fast for these tiny nets, and the numbers do not depend on the machine's core count
    try:
        runs = {name: train(pack, seed, steps, frames) for name, pack in (("vanilla", 1), ("pacgan", PACK))}
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t
    ring = runs["vanilla"][0]
    k = len(ring.modes)
    stats = {name: describe(*run) for name, run in runs.items()}
    van, fix = stats["vanilla"], stats["pacgan"]
    changes = sum(a != b for a, b in zip(van["covered"], van["covered"][1:]))
    numbers = {
        "modes": k, "pack": PACK, "steps": steps, "frame_steps": [s for s, _ in runs["vanilla"][1]],
        "vanilla_modes": van["modes"], "pacgan_modes": fix["modes"],
        "vanilla_covered": van["covered"], "pacgan_covered": fix["covered"],
        "vanilla_mean_modes": sum(van["modes"]) / len(van["modes"]),
        "pacgan_mean_modes": sum(fix["modes"]) / len(fix["modes"]),
        "vanilla_set_changes": changes,  # frames whose covered set differs from the frame before
        "vanilla_modes_visited": len(set().union(*map(set, van["covered"]))),
        "vanilla_busiest_mode": van["busiest_mode"], "vanilla_busiest_share": van["busiest_share"],
        "pacgan_busiest_share": fix["busiest_share"],
        "vanilla_busiest_modes_visited": len(set(van["busiest_mode"])),
        "vanilla_final_modes": van["modes"][-1], "pacgan_final_modes": fix["modes"][-1],
        "vanilla_final_high_quality": van["high_quality"][-1], "pacgan_final_high_quality": fix["high_quality"][-1],
        "seconds": seconds,
    }

    plt = _plt()
    n = len(runs["vanilla"][1])
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 5.3), squeeze=False)
    labels = {"vanilla": "vanilla GAN", "pacgan": f"PacGAN{PACK}: D judges {PACK} at once"}
    colours = {"vanilla": "#d62728", "pacgan": "#2ca02c"}
    real = ring.points[:2000]
    for row, name in zip(axes, runs):
        for i, (ax, (step, x)) in enumerate(zip(row, runs[name][1])):
            covered = stats[name]["covered"][i]
            ax.scatter(real[:, 0], real[:, 1], s=14, color="0.75", linewidths=0)
            ax.scatter(x[:, 0], x[:, 1], s=2, color=colours[name], alpha=0.4, linewidths=0)
            if covered:  # the modes counted as covered, ringed
                ax.scatter(ring.modes[covered, 0], ring.modes[covered, 1], s=90, facecolors="none",
                           edgecolors="k", linewidths=0.8)
            ax.set_title(f"step {step}\nmodes {len(covered)}/{k}", fontsize=9)
            ax.text(0.03, 0.03, f"busiest mode {stats[name]['busiest_share'][i]:.0%}", transform=ax.transAxes,
                    fontsize=7, color="0.3")
            ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), xticks=[], yticks=[], aspect="equal")
        row[0].set_ylabel(labels[name], fontsize=9, color=colours[name])
    fig.suptitle(f"G's samples on {SAMPLES} fixed latents (colour) over the data (grey). A ringed mode has a sample "
                 f"within 3 std ({3 * ring.std:g}) of its centre;\n'busiest mode': the share of samples nearer to "
                 f"one mode than to any other (spread evenly: {100 / k:g}%)", fontsize=9)
    path = save(fig, out_dir, "mode-collapse")
    full = [s for s, m in zip(numbers["frame_steps"], fix["modes"]) if m == k]
    share, visited = sum(van["busiest_share"]) / n, numbers["vanilla_busiest_modes_visited"]
    seen = "does not collapse" if share < 0.8 else "collapses and hops" if visited > 1 else "collapses onto one mode"
    return Lesson("mode-collapse", path, numbers,
                  f"over {steps} steps the vanilla GAN {seen}: on average {share:.0%} of its samples are nearest one "
                  f"mode, " + (f"{visited} different modes in turn across {n} frames" if visited > 1 else
                               f"the same mode in all {n} frames")
                  + f", and {numbers['vanilla_mean_modes']:.2f} of {k} modes have a high-quality sample per frame. "
                  f"PacGAN{PACK}, same nets, seed and steps: {numbers['pacgan_mean_modes']:.2f} modes per frame, "
                  f"{numbers['pacgan_final_modes']}/{k} at the end"
                  + (f", all {k} in {len(full)} of {n} frames (first at step {full[0]})" if full else ""))
