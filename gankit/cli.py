"""The ``gankit`` command line: parse, call, print.

Exit codes: 0 done; 1 a checkpoint could not be written (disk full, ...), the previous
one intact; 2 bad input (config, data, checkpoint), one line on stderr, nothing written;
3 training diverged and ``train.on_divergence`` (or ``train.max_rollbacks``) stopped it;
130 / 143 stopped by SIGINT / SIGTERM after writing a checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from gankit import __version__
from gankit.checkpoint import CheckpointError, CheckpointWriteError
from gankit.errors import ConfigError
from gankit.registry import did_you_mean
from gankit.data import DataError
from gankit.divergence import DivergenceError


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
    p.add_argument("--seeds", type=int, metavar="S",
                   help="train S seeds at once as one batched model (--seed K, default 0, upwards); "
                        "seed k's run in RUN_DIR/seed-k")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set train.batch_size=64 (repeatable)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint "
                   "(also automatic when --run-dir holds a run of the same config)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="one iteration end to end (grid, log row, checkpoint), then the usual run folder")


def cmd_train(args) -> int:
    from gankit import config as C
    from gankit.resume import should_resume
    from gankit.runs import RunDir, default_run_dir
    from gankit.signals import exit_code
    from gankit.train import train

    if args.resume and (args.preset or args.run_dir):
        raise ConfigError("give either a PRESET [--run-dir DIR] or --resume RUN_DIR, not both")
    if args.seeds is not None or (args.resume and seed_folders(args.resume)):
        return _train_seeds(args)
    if args.resume:
        run = RunDir(args.resume)
        if not run.exists():
            raise ConfigError(f"--resume {args.resume}: not a gankit run (no config.yaml)")
        cfg = run.load_config()
        if args.overrides or args.dataset or args.seed is not None or args.dry_run:
            raise ConfigError("--resume continues a run as configured; only --steps and --time-budget may change")
        if args.steps is not None:  # a budget in steps replaces one in epochs
            C.apply_overrides(cfg, [f"train.steps={args.steps}", "train.epochs=0"])
        run_dir, resume = run.root, True
    else:
        if not args.preset:
            raise ConfigError("train needs a PRESET (see 'gankit list') or --resume RUN_DIR")
        cfg = _preset_config(args)
        run_dir = args.run_dir or default_run_dir(cfg)
        resume = should_resume(cfg, run_dir)
    if args.time_budget is not None and args.time_budget <= 0:
        raise ConfigError("--time-budget must be positive")
    from gankit import distributed

    # Under torchrun each process is one rank; errors name the rank, the group is torn down.
    with distributed.session(cfg.train.device, passthrough=(ConfigError, DataError, CheckpointError)):
        result = train(cfg, run_dir, resume=resume, time_budget=args.time_budget,
                       progress=not args.no_progress, data_dir=args.data_dir)
    if result.stopped_by in ("SIGINT", "SIGTERM"):
        if distributed.rank_from_env() == 0:
            print(f"gankit: stopped by {result.stopped_by} at step {result.step}; checkpoint "
                  f"{result.run_dir}/checkpoints/last.pt; continue with: gankit train --resume {result.run_dir}",
                  file=sys.stderr)
        return exit_code(result.stopped_by)
    if distributed.rank_from_env() != 0:
        return 0
    m = result.last_metrics
    losses = " ".join(f"{k}={v:.3f}" for k, v in m.items() if k not in ("step", "elapsed_s"))
    print(f"done: {result.step} steps in {result.elapsed_s:.0f}s ({result.stopped_by}); {losses}; "
          f"grid {result.run_dir}/final.png, checkpoint {result.run_dir}/checkpoints/last.pt")
    if result.stopped_by == "time_budget" and result.step < cfg.train.steps:
        # a short budget can stop a preset long before it was meant to end: say how far it got
        print(f"gankit: the time budget stopped it at {result.step / cfg.train.steps:.0%} of the configured "
              f"{cfg.train.steps:,} steps; continue with: gankit train --resume {result.run_dir} --time-budget S")
    return 0


def _preset_config(args):
    """The config ``gankit train PRESET`` runs: the preset, then --dataset/--steps/--seed, then --set."""
    from gankit import config as C

    overrides = list(args.overrides)
    for flag, key in ((args.dataset, "data.dataset"), (args.steps, "train.steps"), (args.seed, "train.seed")):
        if flag is not None:
            overrides.insert(0, f"{key}={flag}")
    if args.steps is not None or args.dry_run:  # a budget in steps replaces a preset's in epochs
        overrides.insert(0, "train.epochs=0")
    if args.dry_run:
        overrides.append("train.steps=1")
    return C.load_preset(args.preset, overrides)


def seed_folders(root) -> list[tuple[int, Path]]:
    """(k, folder) of each ``seed-k`` run in ``root`` (a ``--seeds`` run), by seed."""
    root = Path(root)
    found = [(int(p.name[5:]), p) for p in root.glob("seed-*") if p.name[5:].isdigit() and (p / "config.yaml").is_file()]
    return sorted(found)


def _train_seeds(args) -> int:
    """``gankit train PRESET --seeds S [--seed K] --run-dir DIR``, or ``--resume DIR`` of such a run."""
    from gankit import config as C
    from gankit.runs import default_run_dir
    from gankit.signals import exit_code
    from gankit.train import train_seeds

    if args.resume:
        if args.overrides or args.dataset or args.seed is not None or args.seeds is not None or args.dry_run:
            raise ConfigError("--resume continues a run as configured; only --steps and --time-budget may change")
        found = seed_folders(args.resume)
        seeds = [k for k, _ in found]
        cfg = C.load(found[0][1] / "config.yaml")
        cfg.train.seed = 0
        if args.steps is not None:
            C.apply_overrides(cfg, [f"train.steps={args.steps}", "train.epochs=0"])
        run_dir = Path(args.resume)
    else:
        if not args.preset:
            raise ConfigError("train --seeds needs a PRESET (see 'gankit list')")
        if args.seeds < 1:
            raise ConfigError("--seeds must be at least 1")
        cfg = _preset_config(args)
        seeds = list(range(cfg.train.seed, cfg.train.seed + args.seeds))  # --seed K (or train.seed) upwards
        run_dir = Path(args.run_dir or default_run_dir(cfg))
    if args.time_budget is not None and args.time_budget <= 0:
        raise ConfigError("--time-budget must be positive")
    try:
        results = train_seeds(cfg, run_dir, seeds, time_budget=args.time_budget, progress=not args.no_progress,
                              data_dir=args.data_dir)
    except ValueError as e:  # unbatchable: one line, exit 2
        raise ConfigError(f"--seeds: {e}") from None
    for k, r in zip(seeds, results):
        losses = " ".join(f"{key}={v:.3f}" for key, v in r.last_metrics.items() if key not in ("step", "elapsed_s"))
        state = f"diverged: {r.error}" if r.error else f"{r.step} steps ({r.stopped_by}); {losses}"
        print(f"seed {k}: {state}", file=sys.stderr if r.error else sys.stdout)
    signal = next((r.stopped_by for r in results if r.stopped_by in ("SIGINT", "SIGTERM")), None)
    if signal:
        print(f"gankit: stopped by {signal}; checkpoints in {run_dir}/seed-*/checkpoints; continue with: "
              f"gankit train --resume {run_dir}", file=sys.stderr)
        return exit_code(signal)
    print(f"done: {len(seeds)} seeds in {max(r.elapsed_s for r in results):.0f}s; runs {run_dir}/seed-*")
    return 3 if any(r.error for r in results) else 0  # 3: diverged, as a single run


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
    print(f"wrote {args.n} samples to {out}")
    return 0


def _add_list(sub):
    p = sub.add_parser("list", help="presets, losses, models and datasets")
    p.add_argument("--json", action="store_true")


def cmd_list(args) -> int:
    from gankit.config import preset_description, preset_names
    from gankit.data import DATASETS
    from gankit.losses import LOSSES
    from gankit.metrics import METRICS
    from gankit.models import MODELS
    from gankit.optim import OPTIMIZERS
    from gankit.penalties import PENALTIES

    table = {"presets": {n: preset_description(n) for n in preset_names()}}
    for key, reg in (("losses", LOSSES), ("models", MODELS), ("datasets", DATASETS), ("metrics", METRICS),
                     ("optimizers", OPTIMIZERS), ("penalties", PENALTIES)):
        table[key] = {n: reg.doc(n) for n in reg.names()}
    settings = {n: {f"loss.{f.name}": {"default": f.default, "help": f.metadata.get("help", "")}
                    for f in dataclasses.fields(LOSSES.get(n).Settings)} for n in LOSSES.names()}
    if args.json:
        print(json.dumps({**table, "loss_settings": settings}))
        return 0
    for name, own in settings.items():  # each objective's own keys, after its description
        if own:
            table["losses"][name] += "; " + ", ".join(f"{k}={v['default']}" for k, v in own.items())
    for section, items in table.items():
        print(f"{section}:")
        width = max(map(len, items), default=0)
        for name, doc in items.items():
            print(f"  {name:<{width}}  {doc}")
    return 0


def _add_eval(sub):
    p = sub.add_parser("eval", help="score a run or a samples .npz against the test split (FID, KID, PRDC, ...)")
    p.add_argument("path", help="a run folder or a samples .npz ('gankit sample' format)")
    p.add_argument("--dataset", help="dataset to compare with (default: the run's; mnist for a .npz)")
    p.add_argument("--n", type=int, help="number of generated samples (default 10000; the papers' counts for the "
                                         "mode-collapse benchmarks: 2500 for ring8/grid25, 26000 for stacked-mnist)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and metric subsets")
    p.add_argument("--checkpoint", default="last", help="which checkpoint of a run: last or best")
    p.add_argument("--weights", choices=("ema", "raw"), default="ema",
                   help="a run's generator: ema (its EMA of G when it kept one, as sampling uses; the default) "
                        "or raw (G's own last weights; scores go to eval_raw.json)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--inception", metavar="PATH", help="Inception weights file for the standard FID")
    p.add_argument("--no-plots", action="store_true", help="for a run: skip the pictures (GIF, curves, ...)")


def cmd_eval(args) -> int:
    from gankit.metrics.evaluate import evaluate_path, write_json
    from gankit.metrics.report import format_table

    if args.n is not None and args.n < 10:
        raise ConfigError("--n must be at least 10")
    result = evaluate_path(args.path, args.dataset, args.n, args.data_dir, seed=args.seed,
                           checkpoint=args.checkpoint, weights=args.weights, inception=args.inception)
    if "run" in result:
        write_json(result, f"{args.path}/{'eval_raw' if args.weights == 'raw' else 'eval'}.json")
        if not args.no_plots:
            from gankit.plots import make_all

            result["plots"] = [str(p) for p in make_all(args.path, data_dir=args.data_dir)]
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _add_export(sub):
    p = sub.add_parser("export", help="write the generator's weights and config to a .safetensors file")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output file (default RUN_DIR/generator.safetensors)")
    p.add_argument("--checkpoint", default="last", help="which checkpoints/NAME.pt to export (default last)")


def cmd_export(args) -> int:
    from pathlib import Path

    from gankit.export import export_generator

    out = export_generator(args.run_dir, args.out or Path(args.run_dir) / "generator.safetensors",
                           checkpoint=args.checkpoint)
    print(f"wrote {out}")
    return 0


def _add_bench(sub):
    cases = "mlp-128,mlp-64,dcgan-128"  # gankit.fast.bench.CASES (not imported here: it pulls in torch)
    p = sub.add_parser("bench", help="steps/s of gankit's step against the tutorial loop, interleaved")
    p.add_argument("--device", default="auto", help="'auto' (cuda when available), 'cpu', 'cuda', ...")
    p.add_argument("--cases", default=cases, help=f"comma-separated, from: {cases}")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds; figures are medians")
    p.add_argument("--chunk-s", type=float, default=0.5, help="seconds per timed chunk")
    p.add_argument("--data-dir", help="folder holding mnist/ (random bytes of MNIST's shape when absent)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for gankit's side, e.g. --set train.precision=fp32")
    p.add_argument("--no-sampling", action="store_true", help="skip the sampling-speed figure")
    p.add_argument("--json", help="also write the results here")


def cmd_bench(args) -> int:
    from gankit.fast.bench import CASES, run, table
    from gankit.provenance import command

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or args.rounds < 1:
        raise ConfigError(f"--cases: unknown {unknown}; choose from {', '.join(CASES)}" if unknown
                          else "--rounds must be at least 1")
    result = run(args.device, cases, args.rounds, args.chunk_s, args.data_dir, args.overrides,
                 sampling=not args.no_sampling, log=lambda m: print(m, file=sys.stderr, flush=True))
    result["command"] = command()
    print(table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def _add_report(sub):
    p = sub.add_parser("report", help="write RUN_DIR/report.html, one self-contained page (opens offline)")
    p.add_argument("run_dir")
    p.add_argument("--out", help="where to write the page (default RUN_DIR/report.html)")


def cmd_report(args) -> int:
    from gankit.report import write_report
    from gankit.runs import RunDir

    if not RunDir(args.run_dir).exists():
        raise ConfigError(f"{args.run_dir}: not a gankit run (no config.yaml)")
    out = write_report(args.run_dir, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _add_serve(sub):
    p = sub.add_parser("serve", help="explore a trained generator in the browser (local web app)")
    p.add_argument("run_dir")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--device", default="cpu", help="where the generator runs (cpu, cuda, ...)")
    p.add_argument("--verbose", action="store_true", help="log every request")


def cmd_serve(args) -> int:
    from gankit.runs import RunDir
    from gankit.serve import make_server

    if not RunDir(args.run_dir).exists():
        raise ConfigError(f"{args.run_dir}: not a gankit run (no config.yaml)")
    server = _listen(lambda: make_server(args.run_dir, args.host, args.port, verbose=args.verbose), args.host, args.port)
    return _serve_until_interrupted(server, f"serving {args.run_dir} at {server.url}  (Ctrl+C to stop)")


def _listen(make, host: str, port: int):
    """``make()``'s server, or a one-line ConfigError when the address cannot be bound."""
    import errno

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be in 0..65535")
    try:
        return make()
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; pick another with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None


def _serve_until_interrupted(server, banner: str) -> int:
    print(banner, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


def _add_lab(sub):
    p = sub.add_parser("lab", help="a small GAN learning a 2D shape, live in the browser (docs/learn.md)")
    p.add_argument("--port", type=int, default=8001, help="port to listen on, on 127.0.0.1 (default 8001; 0 = any free port)")
    p.add_argument("--verbose", action="store_true", help="log every request")


def cmd_lab(args) -> int:
    import torch

    from gankit.lab.server import make_lab_server

    server = _listen(lambda: make_lab_server("127.0.0.1", args.port, verbose=args.verbose), "127.0.0.1", args.port)
    torch.set_num_threads(1)  # the lab's networks are tiny: one thread runs them fastest, and leaves a core to the page
    try:
        return _serve_until_interrupted(server, f"gankit lab at {server.url}  (open it in a browser; Ctrl+C to stop)")
    finally:
        server.lab.stop()


def _add_arena(sub):
    p = sub.add_parser("arena", help="train several configurations under one budget and rank them")
    p.add_argument("configs", nargs="+", metavar="CONFIG",
                   help="PRESET or PRESET:key=value,key=value (e.g. dcgan:tricks.label_smoothing=0.9)")
    p.add_argument("--out", required=True, help="folder for arena.json, arena.md, grids and the runs")
    p.add_argument("--dataset", help="dataset for every configuration (overrides data.dataset)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per configuration (default 2)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", type=float, help="seconds of training per run (default 60)")
    budget.add_argument("--steps", type=int, help="iterations per run")
    p.add_argument("--eval-n", type=int, default=2000, help="samples scored per evaluation (default 2000)")
    p.add_argument("--eval-every", type=int, help="FID every K iterations (default steps/6, or 100 under a time budget)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key in every configuration (a CONFIG's own overrides win), repeatable")
    p.add_argument("--progress", action="store_true", help="a progress bar per run")


def cmd_arena(args) -> int:
    from gankit.arena import rank, run_arena
    from gankit.metrics.modes import quality

    if args.steps is None and args.time_budget is None:
        args.time_budget = 60.0
    for flag, value in (("--steps", args.steps), ("--time-budget", args.time_budget), ("--eval-every", args.eval_every)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be positive")
    doc = run_arena(args.configs, args.out, dataset=args.dataset, seeds=args.seeds, steps=args.steps,
                    time_budget=args.time_budget, eval_n=args.eval_n, eval_every=args.eval_every,
                    data_dir=args.data_dir, progress=args.progress,
                    extra=args.overrides)
    configs = {c["label"]: c for c in doc["configs"]}
    key = quality(doc["dataset"]).headline
    for i, label in enumerate(rank(doc), 1):
        v = configs[label]["summary"].get(key)
        print(f"{i}. {label}: {key} {v['mean']:.2f} ± {v['sd']:.2f}" if v else f"{i}. {label}: no {key}")
    print(f"report {args.out}/arena.md, results {args.out}/arena.json")
    return 0


def _add_learn(sub):
    p = sub.add_parser("learn", help="the tutorials' theory, each shown by a picture and a number (docs/learn.md)")
    p.add_argument("topic", nargs="?", help="a lesson (without one: list them)")
    p.add_argument("--out", default="runs/learn", help="folder for the picture (default runs/learn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the lesson's numbers as one JSON object")


def cmd_learn(args) -> int:
    from gankit.learn import LESSONS

    if not args.topic:
        width = max(map(len, LESSONS.names()))
        for name in LESSONS.names():
            print(f"  {name:<{width}}  {LESSONS.doc(name)}")
        return 0
    if args.topic not in LESSONS:
        raise ConfigError(f"unknown lesson '{args.topic}'{did_you_mean(args.topic, LESSONS.names())}; "
                          f"choose from: {', '.join(LESSONS.names())}")
    lesson = LESSONS.get(args.topic)(Path(args.out), seed=args.seed)
    if args.json:
        print(json.dumps({"topic": lesson.topic, "picture": str(lesson.picture), **lesson.numbers}))
    else:
        print(f"{lesson.summary}\npicture: {lesson.picture}")
    return 0


COMMANDS = {"train": (_add_train, cmd_train), "sample": (_add_sample, cmd_sample), "list": (_add_list, cmd_list),
            "eval": (_add_eval, cmd_eval),
            "export": (_add_export, cmd_export), "bench": (_add_bench, cmd_bench),
            "report": (_add_report, cmd_report), "serve": (_add_serve, cmd_serve),
            "arena": (_add_arena, cmd_arena), "learn": (_add_learn, cmd_learn), "lab": (_add_lab, cmd_lab)}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, evaluate, compare and use GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def _error(e: Exception, code: int) -> int:
    one_line = " ".join(str(e).splitlines())
    print(f"gankit: error: {one_line}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command][1](args)
    except CheckpointWriteError as e:
        return _error(e, 1)
    except (ConfigError, DataError, CheckpointError) as e:
        return _error(e, 2)
    except DivergenceError as e:
        return _error(e, 3)
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
