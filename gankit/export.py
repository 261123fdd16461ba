"""Export a trained generator as one ``.safetensors`` file that rebuilds itself.

safetensors holds tensors only (no pickle, nothing to execute on load). The header's
string metadata carries what is needed to rebuild the network without the run folder:

``format``          ``gankit-generator``
``format_version``  ``1``
``gankit_version``  the gankit that wrote the file
``config``          the run's resolved config, as JSON
``data_shape``      ``[C, H, W]`` as JSON
``num_classes``     0 for unconditional models
``step``            the training step the weights come from
``weights``         ``ema`` when the run kept an EMA of G's weights, else ``raw``
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from gankit import __version__
from gankit import config as config_mod
from gankit.atomic import atomic_path
from gankit.checkpoint import CheckpointError, load_checkpoint, load_state
from gankit.runs import RunDir, generator_key

FORMAT, FORMAT_VERSION = "gankit-generator", "1"


def export_generator(run_dir: str | Path, out: str | Path, checkpoint: str = "last") -> Path:
    """Write the run's generator weights (EMA when present) and metadata to ``out``, atomically."""
    run = RunDir(run_dir)
    cfg = run.load_config()
    state = load_checkpoint(run.checkpoints / f"{checkpoint}.pt")
    key = generator_key(state)
    weights = state[key]
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in weights.items()}
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "gankit_version": __version__,
        "config": json.dumps(cfg.to_dict()), "data_shape": json.dumps(list(state["data_shape"])),
        "num_classes": str(int(state.get("num_classes", 0))), "step": str(int(state["step"])),
        "weights": "ema" if key == "G_ema" else "raw",
    }
    out = Path(out)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gankit generator export")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: export format version {meta.get('format_version')} (gankit "
                              f"{meta.get('gankit_version', '?')}) is not supported; this gankit reads {FORMAT_VERSION}")
    return meta


def load_exported(path: str | Path, device="cpu"):
    """(G in eval mode, its Config, the metadata) from an exported file alone."""
    from gankit.models import build_models

    meta = read_metadata(path)
    cfg = config_mod.from_dict(json.loads(meta["config"]))
    G, _ = build_models(cfg, json.loads(meta["data_shape"]), int(meta["num_classes"]))
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    load_state(G, weights, "generator", path)
    return G.to(device).eval(), cfg, meta

