"""Compiling ahead: under a time budget, a first run trains eagerly while a child compiles its step."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

import gankit.train
from gankit import config as C
from gankit.cli import main
from gankit.fast import ahead
from gankit.fast.ahead import CompileAhead, compiled_before, remember_compiled
from gankit.runs import read_metrics

SMALL = ["--dataset", "synthetic", "--no-progress", "--set", "model.g_hidden=[32]", "--set", "model.d_hidden=[32]",
         "--set", "train.batch_size=32", "--set", "train.precision=fp32", "--set", "train.log_every=10",
         "--set", "train.compile=true"]


@pytest.fixture
def cold_cache(tmp_path):
    """An empty torch compile cache, also for the child (it inherits the variable)."""
    with temporary_cache_dir(str(tmp_path / "inductor")):
        yield tmp_path / "inductor"


@pytest.fixture
def children(monkeypatch):
    """Every CompileAhead a run starts."""
    made = []
    real_init = CompileAhead.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(CompileAhead, "__init__", init)
    return made


@pytest.fixture
def end_soon_after_the_switch(monkeypatch):
    """Runs end 20 compiled iterations after they switch (not at their generous time budget)."""
    real_switch = CompileAhead.switch

    def switch(self):
        line = real_switch(self)
        compiled, calls = self.compiled, []

        def counted(*args):
            calls.append(1)
            if len(calls) == 40:  # a D and a G update per iteration
                self.step.cfg.train.steps = 0
            return compiled(*args)

        self.step.update = counted
        return line

    monkeypatch.setattr(CompileAhead, "switch", switch)


def test_a_first_budgeted_run_trains_eagerly_then_switches_to_the_step_its_child_compiled(
        tmp_path, cold_cache, children, end_soon_after_the_switch):
    run = tmp_path / "a"
    assert main(["train", "vanilla", "--run-dir", str(run), "--steps", "1000000", "--time-budget", "600",
                 *SMALL]) == 0
    log = (run / "train.log").read_text()
    assert "step 0: building the compiled step in a background process" in log
    switched = re.search(r"step (\d+): the compiled step was built in the background in \d+ s", log)
    assert switched, log
    assert int(switched.group(1)) > 0  # training went on while the child compiled
    assert re.search(r"switched to the compiled step \(\d+ s to load it\)", log)
    (child,) = children
    assert child.proc.returncode == 0 and child.switched
    assert not child.step.fallbacks and all(fn.calls == 20 for fn in child.compiled._fns.values())
    rows = read_metrics(run / "metrics.jsonl")
    assert rows[-1]["step"] > int(switched.group(1))  # and compiled steps followed
    assert compiled_before(C.load(run / "config.yaml"), (1, 28, 28))

    # the next budgeted run finds the step in the cache: it loads it at once, no child
    again = tmp_path / "b"
    assert main(["train", "vanilla", "--run-dir", str(again), "--steps", "50", "--time-budget", "600", *SMALL]) == 0
    log = (again / "train.log").read_text()
    assert "background" not in log and re.search(r"step 0: compiled the training step in \d+ s", log)
    assert len(children) == 1


def test_a_run_that_ends_before_its_child_stops_the_child_and_leaves_no_files(tmp_path, cold_cache, children):
    assert main(["train", "vanilla", "--run-dir", str(tmp_path / "a"), "--time-budget", "1", *SMALL]) == 0
    (child,) = children
    assert child.proc.poll() is not None and not child.switched  # stopped, never waited for
    assert "switched" not in (tmp_path / "a" / "train.log").read_text()
    assert not Path(child._dir.name).exists()


def test_a_child_that_fails_says_why_and_the_run_compiles_the_step_itself(
        tmp_path, cold_cache, children, end_soon_after_the_switch, monkeypatch):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no compiler here' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    run = tmp_path / "a"
    assert main(["train", "vanilla", "--run-dir", str(run), "--steps", "1000000", "--time-budget", "600",
                 *SMALL]) == 0
    log = (run / "train.log").read_text()
    assert re.search(r"building the compiled step in the background failed after \d+ s "
                     r"\(exit 3: no compiler here\); compiling it here", log), log
    (child,) = children
    assert not child.step.fallbacks and all(fn.calls == 20 for fn in child.compiled._fns.values())


def test_only_a_budgeted_compiled_cpu_run_with_a_cold_step_compiles_ahead(tmp_path, cold_cache, monkeypatch):
    made = []
    real_build_step = gankit.train.build_step
    monkeypatch.setattr(gankit.train, "build_step", lambda *a, **k: made.append(real_build_step(*a, **k)) or made[-1])
    cfg = C.load_preset("vanilla", ["train.compile=true", "model.g_hidden=[32]", "model.d_hidden=[32]",
                                    "data.dataset=synthetic"])
    assert main(["train", "vanilla", "--run-dir", str(tmp_path / "a"), "--steps", "1", *SMALL]) == 0
    step, shape, cpu = made[-1], (1, 28, 28), torch.device("cpu")
    assert step.mode == "compiled"
    assert CompileAhead.applies(step, shape, cpu, 60.0) is False  # the steps-bound run above marked it
    step.cfg.train.batch_size = 16  # another shape of graph: not compiled yet
    assert CompileAhead.applies(step, shape, cpu, 60.0) is True
    assert CompileAhead.applies(step, shape, cpu, None) is False  # bound by steps: compile first, reproducibly
    assert CompileAhead.applies(step, shape, torch.device("meta"), 60.0) is False
    step.cfg.train.compile_ahead = False
    assert CompileAhead.applies(step, shape, cpu, 60.0) is False
    assert cfg.train.compile_ahead is True  # on by default


def test_settings_that_never_reach_the_graph_share_the_compiled_mark(cold_cache):
    base = C.load_preset("vanilla", ["train.seed=0", "train.steps=100"])
    remember_compiled(base, (1, 28, 28))
    same_graph = C.load_preset("vanilla", ["train.seed=7", "train.steps=5", "train.log_every=3", "eval.n=100",
                                           "data.data_dir=elsewhere", "train.compile_ahead=false"])
    assert compiled_before(same_graph, (1, 28, 28))
    for other in (["model.g_hidden=[64]"], ["train.batch_size=64"], ["loss.name=hinge"], ["tricks.r1=1"],
                  ["data.limit=500"], ["data.dataset=fashion-mnist"]):
        assert not compiled_before(C.load_preset("vanilla", other), (1, 28, 28)), other
    assert not compiled_before(base, (3, 32, 32))
    assert ahead._mark(base, (1, 28, 28)).parent.parent == cold_cache
