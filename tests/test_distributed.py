"""Data-parallel training under torchrun (gloo on CPU).

The arbiter: 2 processes x B/2 samples reach the weights one process reaches with the
same global batch of B and the same per-sample noise (rank r's stream supplies samples
r*B/2 .. (r+1)*B/2 - 1 of the global batch).
"""
from __future__ import annotations
import math

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gankit import config as C
from gankit import distributed
from gankit.checkpoint import load_checkpoint
from gankit.data import load_dataset
from gankit.data.batches import BatchSampler
from gankit.gan import build_gan
from gankit.models import build_models
from gankit.runs import read_metrics
from gankit.step import Step
from gankit.update import EagerUpdate

REPO = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", GANKIT_DIST_TIMEOUT="20")
    env.update(extra)
    return env


def torchrun(nproc: int, args: list[str], timeout: float = 150, script: str | None = None, **env):
    target = [script] if script else ["-m", "gankit"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           *target, *args]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=timeout, cwd=REPO)


SETTINGS = ["--set", "model.g_hidden=[32]", "--set", "model.d_hidden=[32]", "--set", "model.z_dim=8",
            "--set", "model.conditional=true", "--set", "train.d_steps=2", "--set", "train.batch_size=32",
            "--set", "train.log_every=4", "--set", "train.sample_every=100", "--seed", "3",
            "--set", "train.precision=fp32"]


def reference_weights(cfg: C.Config, world: int, steps: int):
    """One process, global batch B, whose sample i comes from rank (i // (B/world))'s stream."""
    torch.manual_seed(cfg.train.seed)
    data = load_dataset(cfg.data.dataset, "train")
    gan = build_gan(cfg, data.shape, data.num_classes)
    gens = [torch.Generator().manual_seed(distributed.rank_seed(cfg.train.seed, r)) for r in range(world)]
    per_rank = cfg.train.batch_size // world
    samplers = [BatchSampler(data.images, data.labels, per_rank, cfg.data.range, g) for g in gens]

    def cat(parts, i):
        return None if parts[0][i] is None else torch.cat([p[i] for p in parts])

    class Batches:  # each rank's share of the global batch, in rank order
        gen = gens[0]

        def __call__(self):
            parts = [s() for s in samplers]
            return cat(parts, 0), cat(parts, 1)

    one_stream = gan.latents

    class Latents:  # each stream draws its share of the latents, in the order a rank would
        num_classes = one_stream.num_classes

        def draw(self, n, gen=None, iteration=None):
            parts = [one_stream.draw(n // world, g, iteration=iteration) for g in gens]
            return cat(parts, 0), cat(parts, 1)

    gan.latents = Latents()
    step = Step(cfg, gan, Batches(), EagerUpdate())
    for i in range(steps):
        step(i)
    return gan.G.state_dict(), gan.D.state_dict()


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    run = tmp_path / "ddp"
    steps = 12
    r = torchrun(2, ["train", "vanilla", "--run-dir", str(run), "--dataset", "synthetic", "--steps", str(steps),
                     "--no-progress", "--set", "train.device=cpu", *SETTINGS])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("done:") == 1  # only rank 0 reports

    cfg = C.load(run / "config.yaml")
    ref_g, ref_d = reference_weights(cfg, 2, steps)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == steps and len(state["sampler_ranks"]) == 2
    assert not any(k.startswith("module.") for k in state["G"])  # loads anywhere, any world size
    moved = 0.0
    for ref, got in ((ref_g, state["G"]), (ref_d, state["D"])):
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-4, atol=1e-5, msg=f"{k} differs")
    # The comparison means something only if training moved the weights away from init.
    torch.manual_seed(cfg.train.seed)
    g0, _ = build_models(cfg, (1, 28, 28), 10)
    moved = max((g0.state_dict()[k] - ref_g[k]).abs().max().item() for k in ref_g)
    assert moved > 1e-3

    # ... and it is not the single-stream run: rank 1's samples really came from another stream.
    one_stream_g, _ = reference_weights(cfg, 1, steps)
    assert any(not torch.allclose(one_stream_g[k], ref_g[k], atol=1e-5) for k in ref_g)

    rows = read_metrics(run / "metrics.jsonl")
    assert [row["step"] for row in rows] == [4, 8, 12]


def test_augmentation_and_ada_train_under_two_processes(tmp_path):
    """DiffAugment's draws come from each rank's stream like its batch; ADA averages r_t over
    the ranks (an all-reduce every 4 iterations), so every rank moves p alike."""
    run = tmp_path / "ada"
    r = torchrun(2, ["train", "vanilla", "--run-dir", str(run), "--dataset", "synthetic", "--steps", "16",
                     "--no-progress", "--set", "train.device=cpu", "--set", "tricks.ada_target=0.6",
                     "--set", "tricks.ada_kimg=0.2", *SETTINGS])
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_metrics(run / "metrics.jsonl")
    assert [row["step"] for row in rows] == [4, 8, 12, 16]
    assert all(math.isfinite(row["r_t"]) and 0 <= row["aug_p"] <= 1 for row in rows)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["ada"]["count"] == 0  # 16 iterations: 4 adjustments


@pytest.mark.slow
def test_checkpoint_from_two_processes_resumes_with_one_and_back(tmp_path):
    run = tmp_path / "run"
    common = ["--no-progress"]
    r = torchrun(2, ["train", "vanilla", "--run-dir", str(run), "--dataset", "synthetic", "--steps", "8",
                     "--set", "train.device=cpu", *common, *SETTINGS])
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(run),
                        "--steps", "12", *common], env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 12
    r = torchrun(2, ["train", "--resume", str(run), "--steps", "16", *common])
    assert r.returncode == 0, r.stderr[-3000:]
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 16 and len(state["sampler_ranks"]) == 2
    assert [row["step"] for row in read_metrics(run / "metrics.jsonl")] == [4, 8, 12, 16]


FAULTY = textwrap.dedent("""
    import os, sys, time
    from gankit import step as T
    from gankit.cli import main

    original = T.Step.__call__
    calls = []

    def faulty(self, iteration):
        calls.append(1)
        if os.environ["RANK"] == "1" and len(calls) == 3:
            if os.environ["FAULT"] == "raise":
                raise RuntimeError("injected failure")
            time.sleep(300)  # a rank that hangs without dying
        return original(self, iteration)

    T.Step.__call__ = faulty
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("fault", ["raise", pytest.param("hang", marks=pytest.mark.slow)])  # hang: torchrun waits 30 s before SIGKILL
def test_a_failing_rank_stops_the_job_with_a_clear_error(tmp_path, fault):
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY)
    t0 = time.monotonic()
    r = torchrun(2, ["train", "vanilla", "--run-dir", str(tmp_path / "run"), "--dataset", "synthetic",
                     "--steps", "50", "--no-progress", "--set", "train.device=cpu", *SETTINGS],
                 script=str(script), timeout=120, FAULT=fault, GANKIT_DIST_TIMEOUT="4")
    took = time.monotonic() - t0
    assert r.returncode != 0
    assert took < 90, f"job took {took:.0f}s to stop"
    if fault == "raise":
        assert "rank 1/2: RuntimeError: injected failure" in r.stderr
    else:
        assert "rank 0/2" in r.stderr and "timed out after 4s" in r.stderr, r.stderr[-3000:]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 0  # only the starting one


def test_batch_that_does_not_split_is_a_usage_error(tmp_path):
    r = torchrun(2, ["train", "vanilla", "--run-dir", str(tmp_path / "run"), "--dataset", "synthetic",
                     "--steps", "2", "--no-progress", "--set", "train.device=cpu", "--set", "train.batch_size=33"])
    assert r.returncode != 0
    assert "train.batch_size=33 does not split over 2 processes" in r.stderr


def test_rank_streams_are_distinct_and_rank0_is_the_single_process_stream():
    seeds = [distributed.rank_seed(5, r) for r in range(4)]
    assert seeds[0] == 5 and len(set(seeds)) == 4
    assert distributed.rank_seed(5, 1) != distributed.rank_seed(6, 1)
    assert all(0 <= s < 2**63 for s in seeds)


def test_single_process_helpers_are_no_ops():
    assert not distributed.is_enabled() and distributed.is_main() and distributed.world_size() == 1
    assert distributed.local_batch(33) == 33
    v = {"a": torch.tensor(2.0)}
    assert distributed.mean(v) is v and distributed.agree_stop("SIGTERM", 3, 10) == "SIGTERM"
    g = torch.nn.Linear(2, 2)
    assert distributed.wrap(g, g, torch.device("cpu")) == (g, g)
    gen = torch.Generator().manual_seed(1)
    state = gen.get_state()
    distributed.restore_stream(gen, [torch.Generator().manual_seed(2).get_state()] * 2, seed=0, step=0)
    assert torch.equal(gen.get_state(), state)  # a single process keeps the stream the checkpoint restored
