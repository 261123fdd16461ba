"""``gankit learn TOPIC``: the theory the tutorials state, each shown by a picture and checked by a number.

Every lesson is one small file here, registered in ``LESSONS`` and imported below. A lesson
is ``run(out_dir, seed) -> Lesson``: it computes (trains a tiny network, iterates a game),
draws one PNG and returns the numbers the picture shows, which tests/test_learn.py checks
against the closed forms. docs/learn.md walks through them in the tutorials' order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gankit.registry import Registry

LESSONS: Registry = Registry("lesson")


@dataclass
class Lesson:
    topic: str
    picture: Path
    numbers: dict = field(default_factory=dict)  # what the picture shows, as figures
    summary: str = ""  # one or two lines in plain words, printed by the command


from gankit.learn import bilinear, energy, fgan_bound, mode_collapse, optimal_d, saturation  # noqa: E402,F401
