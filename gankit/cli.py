"""The ``gankit`` command line: parse, call, print. Usage errors exit 2 with one line."""
from __future__ import annotations

import argparse
import json
import sys

from gankit import __version__
from gankit.checkpoint import CheckpointError
from gankit.config import ConfigError
from gankit.data import DataError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise ConfigError(message)


def _add_train(sub):
    p = sub.add_parser("train", help="train a preset into a run folder")
    p.add_argument("preset", nargs="?", help="preset name (gankit list)")
    p.add_argument("--dataset", help="dataset name (overrides data.dataset)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--run-dir", help="where the run is written (default runs/<preset>-<dataset>-<time>)")
    p.add_argument("--steps", type=int, help="total iterations (overrides train.steps)")
    p.add_argument("--time-budget", type=float, help="stop cleanly after this many seconds of training")
    p.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set train.batch_size=64 (repeatable)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_train(args) -> int:
    from gankit import config as C
    from gankit.runs import RunDir, default_run_dir
    from gankit.train import train

    if args.resume and args.preset:
        raise ConfigError("give either a PRESET or --resume RUN_DIR, not both")
    if args.resume:
        run = RunDir(args.resume)
        if not run.exists():
            raise ConfigError(f"--resume {args.resume}: not a gankit run (no config.yaml)")
        cfg = run.load_config()
        if args.overrides or args.dataset or args.seed is not None:
            raise ConfigError("--resume continues a run as configured; only --steps and --time-budget may change")
        if args.steps is not None:
            C.apply_overrides(cfg, [f"train.steps={args.steps}"])
        run_dir, resume = run.root, True
    else:
        if not args.preset:
            raise ConfigError("train needs a PRESET (see 'gankit list') or --resume RUN_DIR")
        overrides = list(args.overrides)
        for flag, key in ((args.dataset, "data.dataset"), (args.steps, "train.steps"), (args.seed, "train.seed")):
            if flag is not None:
                overrides.insert(0, f"{key}={flag}")
        cfg = C.load_preset(args.preset, overrides)
        run_dir, resume = (args.run_dir or default_run_dir(cfg)), False
    if args.time_budget is not None and args.time_budget <= 0:
        raise ConfigError("--time-budget must be positive")
    result = train(cfg, run_dir, resume=resume, time_budget=args.time_budget,
                   progress=not args.no_progress, data_dir=args.data_dir)
    m = result.last_metrics
    losses = " ".join(f"{k}={v:.3f}" for k, v in m.items() if k not in ("step", "elapsed_s"))
    print(f"done: {result.step} steps in {result.elapsed_s:.0f}s ({result.stopped_by}); {losses}; "
          f"grid {result.run_dir}/final.png, checkpoint {result.run_dir}/checkpoints/last.pt")
    return 0


def _add_sample(sub):
    p = sub.add_parser("sample", help="write generated images to an .npz (key 'images', uint8)")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--out", default="samples.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, help="class to draw (conditional models)")


def cmd_sample(args) -> int:
    from gankit.sample import sample_run

    if args.n < 1:
        raise ConfigError("--n must be at least 1")
    try:
        out = sample_run(args.run_dir, args.n, args.out, seed=args.seed, label=args.label)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    print(f"wrote {args.n} images to {out}")
    return 0


def _add_list(sub):
    p = sub.add_parser("list", help="presets, losses, models and datasets")
    p.add_argument("--json", action="store_true")


def cmd_list(args) -> int:
    from gankit.config import preset_description, preset_names
    from gankit.data import DATASETS
    from gankit.losses import LOSSES
    from gankit.models import MODELS
    from gankit.optim import OPTIMIZERS
    from gankit.penalties import PENALTIES

    table = {"presets": {n: preset_description(n) for n in preset_names()}}
    for key, reg in (("losses", LOSSES), ("models", MODELS), ("datasets", DATASETS),
                     ("optimizers", OPTIMIZERS), ("penalties", PENALTIES)):
        table[key] = {n: reg.doc(n) for n in reg.names()}
    if args.json:
        print(json.dumps(table))
        return 0
    for section, items in table.items():
        print(f"{section}:")
        width = max(map(len, items), default=0)
        for name, doc in items.items():
            print(f"  {name:<{width}}  {doc}")
    return 0


COMMANDS = {"train": (_add_train, cmd_train), "sample": (_add_sample, cmd_sample), "list": (_add_list, cmd_list)}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, evaluate, compare and use GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command][1](args)
    except (ConfigError, DataError, CheckpointError) as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
