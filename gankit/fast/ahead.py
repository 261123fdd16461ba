"""Compile ahead: under a time budget, train eagerly while a child process compiles the step.

The first run of a model and batch shape spends 20-60 s of a 2-core CPU building its
compiled step (docs/performance.md), all of it before step 1. Under ``--time-budget`` that
is training time lost. So the run starts on the eager update (the same maths), while a
child process builds the very same step on the same data and runs it once, which fills
torch's on-disk compile cache. When the child is done the run switches to the compiled
update, whose own build then mostly reads that cache.

Only under a time budget: the switch comes at a step set by the clock, so two runs of one
command may switch at different steps and drift apart by float rounding. A run bound by
steps compiles first, as before, and stays reproducible bit for bit.

The child: ``python -m gankit.fast.ahead CONFIG.yaml DATA.pt`` (a slice of the run's data).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gankit.fast.tuning import set_threads


# Settings that never reach the compiled graph: two configs differing only here share it. (Not the
# dataset: its number of classes sizes a conditional model; nor data.limit: it adds r_t to D's update.)
_NOT_IN_GRAPH = {"preset": None, "eval": None, "data": ("data_dir", "strict"),
                 "train": ("steps", "epochs", "seed", "log_every", "sample_every", "gif", "checkpoint_every",
                           "keep_checkpoints", "nan_check_every", "on_divergence", "rollback_lr_factor",
                           "max_rollbacks", "health", "grid_size", "tensorboard", "compile_ahead", "device")}


def _mark(cfg, shape) -> Path:
    """A file in torch's compile cache saying this step was compiled there (gone when the cache is)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    from gankit import __version__

    d = cfg.to_dict()
    for section, keys in _NOT_IN_GRAPH.items():
        if keys is None:
            d.pop(section, None)
        else:
            for k in keys:
                d[section].pop(k, None)
    key = json.dumps([d, list(shape), torch.__version__, __version__], sort_keys=True, default=str)
    return Path(cache_dir()) / "gankit-steps" / hashlib.sha256(key.encode()).hexdigest()[:32]


def compiled_before(cfg, shape) -> bool:
    """Whether this configuration's step (for data of ``shape``) is in the compile cache already."""
    return _mark(cfg, shape).is_file()


def remember_compiled(cfg, shape) -> None:
    mark = _mark(cfg, shape)
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
    except OSError:  # a read-only cache only costs the next run its head start
        pass


class CompileAhead:
    """A child process compiling a run's step; ``switch`` moves the step onto the compiled update."""

    def __init__(self, cfg, step, data):
        from gankit import config as config_mod
        from gankit.data.subset import limited

        self.step, self.compiled = step, step.update
        step.update = self.compiled.eager  # until the child is done, on one thread (``threads``)
        self._dir = tempfile.TemporaryDirectory(prefix="gankit-ahead-")
        config_path = Path(self._dir.name) / "config.yaml"
        config_mod.save(cfg, config_path)
        data_path = Path(self._dir.name) / "data.pt"  # a slice: the graphs depend on shapes, not on the data's size
        torch.save(limited(data, min(len(data), 512)), data_path)
        self._stderr = open(Path(self._dir.name) / "stderr.txt", "w+b")
        # one core each: the compiler's workers in the child, the eager updates here
        env = {**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "gankit.fast.ahead", str(config_path), str(data_path)],
                                     env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.started = time.perf_counter()
        self.switched = False

    threads = 1  # the eager updates' thread count while the child compiles

    @classmethod
    def applies(cls, step, shape, device: torch.device, time_budget: float | None) -> bool:
        """Whether a single run compiles ahead: ``train.compile_ahead``, a time budget, a compiled step
        on CPU (on CUDA it also captures CUDA graphs, which a child would not share), and a step not in
        the compile cache yet (loading it from there takes seconds: no head start is worth a child)."""
        return (step.cfg.train.compile_ahead and time_budget is not None and step.mode == "compiled"
                and device.type == "cpu" and not compiled_before(step.cfg, shape))

    def ready(self) -> bool:
        return not self.switched and self.proc.poll() is not None

    def switch(self) -> str:
        """Move the step onto the compiled update; returns a line for the run's log."""
        self.switched = True
        self.step.update = self.compiled
        set_threads(self.step.threads)
        took = time.perf_counter() - self.started
        if self.proc.returncode == 0:
            return f"the compiled step was built in the background in {took:.0f} s (training ran eagerly meanwhile)"
        return (f"building the compiled step in the background failed after {took:.0f} s "
                f"(exit {self.proc.returncode}: {self._tail()}); compiling it here")

    def _tail(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "no message"

    def close(self) -> None:
        """Stop the child if it is still compiling (the run ended first) and remove its files."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        self._dir.cleanup()


def build_and_run_once(config_path: str, data_path: str) -> int:
    """The child: the run's step, built as ``train`` builds it, run for one iteration (both updates
    compile, and inductor writes them to its cache). Exit 1 when an update could not be compiled."""
    from gankit import config as config_mod
    from gankit.gan import build_gan
    from gankit.step import build_step

    cfg = config_mod.load(config_path)
    device = torch.device("cpu")
    data = torch.load(data_path, weights_only=False)  # written by the parent, a moment ago
    gan = build_gan(cfg, data.shape, data.num_classes, device)
    step = build_step(cfg, gan, data, device)
    set_threads(step.threads)
    step(0)
    if step.fallbacks:
        print(f"not compiled: {step.fallbacks}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(build_and_run_once(*sys.argv[1:3]))
