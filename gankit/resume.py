"""Deciding whether ``gankit train PRESET --run-dir DIR`` continues the run already in DIR."""
from __future__ import annotations

from pathlib import Path

from gankit import config as config_mod
from gankit.checkpoint import CheckpointDir
from gankit.config import Config
from gankit.errors import ConfigError
from gankit.runs import RunDir

IGNORED = ("train.steps", "train.epochs")  # may change between sessions: resuming to a new total is normal


def config_differences(saved: Config, wanted: Config) -> list[str]:
    return [d for d in config_mod.diff(saved, wanted) if d.split(":", 1)[0] not in IGNORED]


def should_resume(cfg: Config, run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds a run of the same config with a checkpoint to continue.

    A run of a different config is never overwritten: ConfigError lists the differences.
    A run folder with a config but no checkpoint yet starts again from step 0.
    """
    run = RunDir(run_dir)
    if not run.exists():
        return False
    differences = config_differences(run.load_config(), cfg)
    if differences:
        raise ConfigError(f"{run.root} already holds a run with a different config "
                          f"({'; '.join(differences)}); choose another --run-dir, or continue "
                          f"that run as it was configured with --resume {run.root}")
    ckpts = CheckpointDir(run.checkpoints)
    return bool(ckpts.step_files()) or ckpts.last.is_file()
