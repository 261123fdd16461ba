"""Why plain gradient steps are a poor fit for a saddle-point game (the bilinear game min_x max_y xy).

The game's only equilibrium is (0, 0). With step size lr:
* simultaneous gradient descent-ascent, x' = x - lr y, y' = y + lr x, multiplies the
  distance to it by sqrt(1 + lr^2) every step: it spirals out, however small lr is;
* alternating steps (y uses the new x, as GAN training alternates D and G) circle around
  it without getting closer;
* extragradient (a look-ahead step, then the step with the look-ahead's gradient)
  multiplies the distance by sqrt(1 - lr^2 + lr^4) < 1: it spirals in;
* optimistic gradient descent (x' = x - 2 lr y + lr y_previous) converges as well.
This is the simplest model of the rotation in a GAN's dynamics (Mescheder et al. 2017,
2018; Daskalakis et al. 2018; Gidel et al. 2019).
"""
from __future__ import annotations

import math
from pathlib import Path

from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import save
from gankit.plots import _plt


def simultaneous(x, y, lr, steps):
    path = [(x, y)]
    for _ in range(steps):
        x, y = x - lr * y, y + lr * x
        path.append((x, y))
    return path


def alternating(x, y, lr, steps):
    path = [(x, y)]
    for _ in range(steps):
        x = x - lr * y
        y = y + lr * x
        path.append((x, y))
    return path


def extragradient(x, y, lr, steps):
    path = [(x, y)]
    for _ in range(steps):
        ahead_x, ahead_y = x - lr * y, y + lr * x
        x, y = x - lr * ahead_y, y + lr * ahead_x
        path.append((x, y))
    return path


def optimistic(x, y, lr, steps):
    path = [(x, y)]
    prev_x, prev_y = x, y  # the first step is a plain one
    for _ in range(steps):
        x, y, prev_x, prev_y = x - 2 * lr * y + lr * prev_y, y + 2 * lr * x - lr * prev_x, x, y
        path.append((x, y))
    return path


METHODS = {"simultaneous": simultaneous, "alternating": alternating, "extragradient": extragradient,
           "optimistic": optimistic}


@LESSONS.register("bilinear", "on min_x max_y xy, simultaneous gradient steps spiral out; extragradient converges")
def bilinear(out_dir: Path, seed: int = 0, lr: float = 0.1, steps: int = 300) -> Lesson:
    paths = {name: method(1.0, 1.0, lr, steps) for name, method in METHODS.items()}
    radius = {name: math.hypot(*path[-1]) for name, path in paths.items()}
    numbers = {"lr": lr, "steps": steps, "start_radius": math.sqrt(2.0),
               **{f"final_radius_{name}": r for name, r in radius.items()},
               "simultaneous_growth_per_step": math.sqrt(1 + lr ** 2),
               "extragradient_shrink_per_step": math.sqrt(1 - lr ** 2 + lr ** 4)}

    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(13, 4))
    for ax, (name, path) in zip(axes, paths.items()):
        xs, ys = zip(*path)
        ax.plot(xs, ys, lw=1)
        ax.plot([xs[0]], [ys[0]], "o", color="#2ca02c")
        ax.plot([0], [0], "*", color="k", ms=10)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: |(x, y)| {math.sqrt(2):.2f} -> {radius[name]:.2f}", fontsize=9)
        ax.set_xlabel("x (minimises xy)")
    axes[0].set_ylabel("y (maximises xy)")
    fig.suptitle(f"min_x max_y xy from (1, 1), {steps} steps of lr {lr}; the equilibrium is the star", fontsize=10)
    path = save(fig, out_dir, "bilinear")
    return Lesson("bilinear", path, numbers,
                  f"after {steps} steps of lr {lr} from distance {math.sqrt(2):.2f}: simultaneous "
                  f"{radius['simultaneous']:.2f}, alternating {radius['alternating']:.2f}, extragradient "
                  f"{radius['extragradient']:.3f}, optimistic {radius['optimistic']:.3f}")
