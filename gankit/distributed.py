"""Multi-process data parallelism with ``torch.distributed``, launched by ``torchrun``.

The training loop stays one loop: this module decides whether it runs alone or as one
rank of many. ``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; without
them every helper here is a no-op and training runs as a single process.

Conventions (docs/distributed.md):
- ``train.batch_size`` is the *global* batch; each of N ranks draws batch_size / N.
- Each rank draws its batches and noise from its own RNG stream (``rank_seed``); rank 0's
  stream is the single-process stream, so a 1-process torchrun run equals a plain run.
- DDP averages gradients, so N ranks x (B/N) samples == 1 process x B samples.
- Only rank 0 writes files (metrics, grids, checkpoints); every collective has a timeout
  so a dead or stuck rank turns into an error, never a hang.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from gankit.errors import ConfigError

DEFAULT_TIMEOUT_S = 300.0  # collectives wait this long for a slow or dead peer


def launched() -> bool:
    """True when started by torchrun (or any launcher that sets WORLD_SIZE/RANK)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def is_enabled() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_enabled() else 0


def world_size() -> int:
    return dist.get_world_size() if is_enabled() else 1


def rank_from_env() -> int:
    """This process's rank as torchrun set it (still valid after the group is torn down)."""
    return int(os.environ.get("RANK", 0)) if launched() else 0


def is_main() -> bool:
    """Rank 0 (or a single process): the only one that logs and writes files."""
    return rank() == 0


def timeout_s() -> float:
    return float(os.environ.get("GANKIT_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))


def init(device_name: str = "auto") -> torch.device:
    """Join the process group torchrun described (idempotent) and return this rank's device.

    NCCL when the device is CUDA (one GPU per local rank), gloo on CPU.
    """
    device = _pick_device(device_name)
    if not launched() or is_enabled():
        return device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # Without this NCCL may block forever on a dead peer instead of honouring the timeout.
    os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s()),
                            **({"device_id": device} if device.type == "cuda" else {}))
    atexit.register(cleanup)
    return device


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if launched() and device.type == "cuda" and device.index is None:
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) here; "
                                   f"use --nproc_per_node={torch.cuda.device_count()} or fewer")
        device = torch.device("cuda", local)
    return device


def cleanup() -> None:
    if is_enabled():
        dist.destroy_process_group()


def rank_seed(seed: int, r: int | None = None) -> int:
    """Seed of rank ``r``'s data/noise stream: rank 0 keeps ``seed``, others get independent streams."""
    r = rank() if r is None else r
    if r == 0:
        return seed
    a, b = np.random.SeedSequence([seed, r]).generate_state(2)
    return (int(a) << 31 | int(b) >> 1) & ((1 << 63) - 1)


def local_batch(global_batch: int) -> int:
    """This rank's share of ``train.batch_size`` (the global batch)."""
    n = world_size()
    if global_batch % n:
        raise ConfigError(f"train.batch_size={global_batch} does not split over {n} processes; "
                               f"use a multiple of {n}")
    return global_batch // n


def wrap(G: torch.nn.Module, D: torch.nn.Module, device: torch.device, sync_batchnorm: bool = False):
    """DDP wrappers for the training step; ``G`` and ``D`` themselves stay plain modules.

    Grids, checkpoints and resume use the plain modules (no 'module.' prefix, no
    collectives), so a checkpoint written by N processes loads in M. Call before
    building optimisers: SyncBatchNorm conversion keeps the same Parameter objects,
    but only inside containers, which G and D always are.
    """
    if not is_enabled():
        return G, D
    if sync_batchnorm:
        if device.type == "cpu":
            raise ConfigError("train.sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm has no CPU kernel); "
                                   "set train.sync_batchnorm=false to keep BatchNorm statistics per rank")
        for net in (G, D):
            assert torch.nn.SyncBatchNorm.convert_sync_batchnorm(net) is net
    ids = [device.index] if device.type == "cuda" else None
    return (torch.nn.parallel.DistributedDataParallel(G, device_ids=ids),
            torch.nn.parallel.DistributedDataParallel(D, device_ids=ids))


def mean(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Average logged scalars over ranks (a log row describes the global batch)."""
    if not is_enabled() or not values:
        return values
    keys = list(values)  # same insertion order on every rank
    t = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    t = (t / world_size()).cpu()
    return {k: t[i] for i, k in enumerate(keys)}


def gather_states(gen: torch.Generator) -> list[torch.Tensor]:
    """Every rank's RNG stream state (same world size resumes each stream exactly)."""
    state = gen.get_state()
    if not is_enabled():
        return [state]
    out: list = [None] * world_size()
    dist.all_gather_object(out, state)
    return out


def restore_stream(gen: torch.Generator, states: list | None, seed: int, step: int) -> None:
    """Resume this rank's stream: exactly when the world size matches, re-seeded otherwise.

    With a different process count the old per-rank streams do not map onto the new
    ranks; each rank then starts a fresh stream derived from (seed, rank, step). A single
    process keeps the stream the checkpoint restored (rank 0's).
    """
    if not is_enabled():
        return
    n = world_size()
    if states is not None and len(states) == n:
        gen.set_state(states[rank()].cpu() if gen.device.type == "cpu" else states[rank()])
    else:
        a, b = np.random.SeedSequence([seed, rank(), step, n]).generate_state(2)
        gen.manual_seed((int(a) << 31 | int(b) >> 1) & ((1 << 63) - 1))


STOPS = [None, "time_budget", "SIGTERM", "SIGINT"]
STOP_SYNC_EVERY = 10  # ranks compare their stop reasons this often (and at the last step)


def agree_stop(stop: str | None, step: int, total: int) -> str | None:
    """Why to stop after ``step``: alone, ``stop`` itself; under torchrun, the strongest reason
    any rank has, compared every ``STOP_SYNC_EVERY`` steps so that all ranks leave at one step."""
    if not is_enabled():
        return stop
    if step % STOP_SYNC_EVERY and step != total:
        return None
    t = torch.tensor([STOPS.index(stop)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return STOPS[int(t.item())]


def mean_floats(values: dict[str, float]) -> dict[str, float]:
    """Average a log row's statistics over ranks (a row describes the global batch)."""
    if not is_enabled() or not values:
        return values
    means = mean({k: torch.tensor(float(v)) for k, v in values.items()})
    return {k: round(float(v), 6) for k, v in means.items()}


class _Terminated(Exception):
    """SIGTERM (torchrun stopping the job) turned into an exception so ``finally`` blocks run."""


def _on_sigterm(signum, frame):
    raise _Terminated("stopped by SIGTERM")


@contextmanager
def session(device_name: str = "auto", passthrough: tuple = (ConfigError,)):
    """Run a CLI command as one rank: errors name the rank; the group is always torn down.

    A rank that fails prints ``rank R/N: ...`` and exits 1; torchrun then stops the others.
    A rank left waiting on a dead peer raises after the timeout instead of hanging.
    ``passthrough`` errors (usage errors) go on to the CLI's one-line exit-2 handler.
    """
    if not launched():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        init(device_name)
        yield
    except passthrough:
        raise
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - re-raised with the rank named
        r, n = os.environ.get("RANK", "?"), os.environ.get("WORLD_SIZE", "?")
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        text = msg.lower()
        if "timed out" in text or "timeout" in text:
            msg = (f"timed out after {timeout_s():.0f}s waiting for the other ranks "
                   f"(one of them failed or hung; see its error) [{msg}]")
        elif "closed by peer" in text or "connection reset" in text:
            msg = f"lost contact with another rank (it failed or was stopped; see its error) [{msg[:160]}]"
        print(f"gankit: error: rank {r}/{n}: {type(e).__name__}: {msg}", file=sys.stderr, flush=True)
        raise SystemExit(130 if isinstance(e, KeyboardInterrupt) else 1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        cleanup()

