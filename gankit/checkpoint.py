"""Checkpoints: atomic writes, the last K kept, and everything a run needs to continue exactly.

Files are read back with ``torch.load(weights_only=True)`` only, so every value stored
here is a tensor, number, string, list or dict (RNG states included). A checkpoint
holds one entry per named stateful object (models, optimisers, schedulers, EMA, ...):
adding a new one to a run is one more entry in the dict given to ``training_state``.
"""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit import __version__
from gankit.atomic import atomic_path, fsync_dir
from gankit.divergence import Diverged, first_nonfinite

FORMAT = "gankit-checkpoint"
VERSION = 1
STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(Exception):
    """A checkpoint is missing, truncated, from another format/version or architecture."""


class CheckpointWriteError(CheckpointError):
    """Writing a checkpoint failed (disk full, permissions); the previous one is intact."""


# ---------------------------------------------------------------------------- one file

def _compact(value: Any) -> Any:
    """``value`` with every tensor that views a larger storage copied out: ``torch.save`` writes a
    view's whole storage, and a seed of a batch (gankit/seeds) holds views of all seeds' stack."""
    if isinstance(value, torch.Tensor):
        return value.clone() if value.untyped_storage().nbytes() > value.numel() * value.element_size() else value
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_compact(v) for v in value)
    return value


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to a temp file in the same folder, fsync, then rename over ``path``.

    A crash or a full disk mid-write leaves the previous file at ``path`` untouched.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, "gankit_version": __version__, **_compact(state)}, f)
    except OSError as e:
        raise CheckpointWriteError(f"could not write {path} ({e.strerror or e}); "
                                   "any previous file there is untouched") from e
    return path


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or ["no details"])[0][:200]


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle with disallowed globals, ...
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {_first_line(e)}); "
                              "the file is truncated, corrupt or not a gankit checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gankit checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {state.get('version')} "
                              f"(written by gankit {state.get('gankit_version', '?')}) is not supported; "
                              f"gankit {__version__} reads version {VERSION}")
    return state


def load_state(module: torch.nn.Module, state: dict, what: str, path) -> None:
    """load_state_dict with an error that says which network did not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = _first_line(e)
        raise CheckpointError(f"{path}: the {what} in this checkpoint does not fit the configured "
                              f"architecture ({first})") from None


# ---------------------------------------------------------------------------- RNG states

def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every RNG a run may draw from, as tensors and plain lists (weights_only-safe)."""
    keys, pos, has_gauss, cached = np.random.get_state()[1:]
    version, py_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    for name, g in (generators or {}).items():
        if name not in state["generators"]:
            raise CheckpointError(f"checkpoint has no state for the '{name}' random generator")
        g.set_state(state["generators"][name].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ---------------------------------------------------------------------------- a run's state

def training_state(objects: dict[str, Any], generators: dict[str, torch.Generator] | None = None,
                   **meta) -> dict[str, Any]:
    """One dict from named stateful objects (anything with ``state_dict()``), RNGs and metadata."""
    state = {name: obj.state_dict() for name, obj in objects.items()}
    return {**meta, **state, "rng": rng_state(generators)}


def restore_training_state(state: dict[str, Any], objects: dict[str, Any],
                           generators: dict[str, torch.Generator] | None = None, path="checkpoint") -> None:
    """Load every named object and RNG from ``state``; a missing or misfit entry is a CheckpointError."""
    for name, obj in objects.items():
        if name not in state:
            raise CheckpointError(f"{path}: checkpoint has no '{name}' state "
                                  "(written by a run configured differently?)")
        if isinstance(obj, torch.nn.Module):
            load_state(obj, state[name], name, path)
            continue
        try:
            obj.load_state_dict(state[name])
        except (ValueError, RuntimeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: the '{name}' state in this checkpoint does not fit "
                                  f"this run ({_first_line(e)})") from None
    try:
        set_rng_state(state["rng"], generators)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: the random-generator states in this checkpoint are unreadable ({e})") from None


# ---------------------------------------------------------------------------- the checkpoints folder

class CheckpointDir:
    """``step_XXXXXXX.pt`` files (the newest ``keep`` kept) and ``last.pt``, the newest of them.

    ``last.pt`` is a hard link (a copy where links are not supported) swapped in atomically
    after the step file is complete, so at every instant it is a whole, loadable checkpoint.
    """

    def __init__(self, folder: str | Path, keep: int = 3):
        self.folder, self.keep = Path(folder), keep
        self.last = self.folder / "last.pt"

    def step_files(self) -> list[tuple[int, Path]]:
        """(step, path) of the step files, newest first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := STEP_FILE.match(p.name))]
        return sorted(found, reverse=True)

    def save(self, state: dict[str, Any], step: int) -> Path:
        bad = first_nonfinite({k: v for k, v in state.items() if k != "rng"})
        if bad:  # a NaN checkpoint must never become the last good one
            raise Diverged(bad, step)
        path = self.folder / f"step_{step:07d}.pt"
        previous = self.describe_last()
        try:
            save_checkpoint({**state, "step": step}, path)
            self._point_last_at(path)
        except CheckpointWriteError as e:
            raise CheckpointWriteError(f"could not write the checkpoint for step {step}: {e.__cause__ or e}; "
                                       f"{previous}") from e
        for _, old in self.step_files()[self.keep:]:
            old.unlink(missing_ok=True)
        return path

    def _point_last_at(self, path: Path) -> None:
        tmp = self.folder / f".last.pt.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(path, tmp)
            except OSError:
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                    dst.flush()
                    os.fsync(dst.fileno())
            os.replace(tmp, self.last)
            fsync_dir(self.folder)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise CheckpointWriteError(f"could not update {self.last} ({e.strerror or e})") from e

    def describe_last(self) -> str:
        files = self.step_files()
        if files:
            return f"the previous checkpoint ({files[0][1]}, step {files[0][0]}) is intact"
        if self.last.is_file():
            return f"the previous checkpoint ({self.last}) is intact"
        return "no earlier checkpoint exists"

    def remove_temp_files(self) -> list[Path]:
        """Delete half-written temp files left by a killed process."""
        stale = list(self.folder.glob(".*.tmp")) if self.folder.is_dir() else []
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def latest(self, map_location="cpu") -> tuple[dict[str, Any], Path, list[str]]:
        """The newest checkpoint that loads, its path, and why any newer one was skipped."""
        candidates = [p for _, p in self.step_files()] + [self.last]
        skipped: list[str] = []
        for path in candidates:
            if not path.is_file():
                continue
            try:
                return load_checkpoint(path, map_location), path, skipped
            except CheckpointError as e:
                if "version" in str(e):
                    raise
                skipped.append(str(e))
        if skipped:
            raise CheckpointError(f"{self.folder}: no readable checkpoint ({'; '.join(skipped)})")
        raise CheckpointError(f"{self.folder}: no checkpoint there")
