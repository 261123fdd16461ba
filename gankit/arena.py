"""The arena: train several configurations under one budget, score them, rank them.

``gankit arena CONFIG [CONFIG ...] --out DIR`` where each CONFIG is a preset name,
optionally followed by ``:`` and comma-separated overrides::

    dcgan-torch
    dcgan-torch:tricks.label_smoothing=0.9,tricks.ema=0.99
    dcgan-torch:tricks.minibatch_discrimination=[16,4]     (commas inside [] stay in the value)

Every configuration is trained with every seed, with the same budget (``--steps`` iterations or ``--time-budget`` seconds), FID
tracked during training (``eval.every``), and the final generator (its EMA when kept)
scored with the evaluation metrics. Under ``--steps``, a configuration's seeds train at once
as one batched model (``gankit train --seeds``, gankit/seeds) when it can be batched, else
one run at a time (``gankit.train.train``); under ``--time-budget`` always one at a time, so
that every run gets the whole budget to itself. Written to DIR::

    DIR/runs/<config>/seed-<k>/  the ordinary run folders (eval.json holds the final scores)
    DIR/arena.json               every run's budget, steps, time, metrics and FID curve
    DIR/arena.md                 the ranked table (mean and sd over seeds), grids, curves
    DIR/grids/<config>.png       the seed-0 fixed-noise grid of each configuration
    DIR/fid_curves.png           FID (modes captured on the mode-collapse benchmarks) against iterations and seconds

Re-running the same command reuses finished runs (same resolved config, eval.json present),
so an interrupted arena continues where it stopped. The report is made from the files.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from gankit import config as config_mod
from gankit.errors import ConfigError
from gankit.metrics.modes import quality
from gankit.provenance import command, machine

# What a table shows and how configurations rank depend on the dataset (gankit/metrics/modes.py):
# FID for images; modes captured, then the mode histogram's KL, for the mode-collapse benchmarks.
UNBOUNDED_STEPS = 10**9  # under --time-budget the clock, not train.steps, ends a run


@dataclass
class Entry:
    """One arena configuration: its label (the CONFIG text), preset and overrides."""
    label: str
    preset: str
    overrides: list[str]

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", self.label.replace("tricks.", ""))[:80]


def split_overrides(text: str) -> list[str]:
    """Split ``a=1,b=[2,3]`` on commas outside brackets/braces."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_entry(text: str) -> Entry:
    preset, _, rest = text.partition(":")
    if not preset.strip():
        raise ConfigError(f"arena config '{text}': expected PRESET or PRESET:key=value,...")
    overrides = split_overrides(rest)
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"arena config '{text}': override '{o}' is not key=value")
    return Entry(text.strip(), preset.strip(), overrides)


def resolve(entry: Entry, seed: int, dataset: str | None, steps: int | None, time_budget: float | None,
            eval_every: int, eval_n: int, extra=()) -> config_mod.Config:
    """The config one arena run trains: the entry's, with the arena's budget, seed and eval cadence."""
    forced = [f"train.seed={seed}", f"eval.every={eval_every}", f"eval.n={eval_n}",
              f"train.steps={steps if steps is not None else UNBOUNDED_STEPS}"]
    if dataset:
        forced.insert(0, f"data.dataset={dataset}")
    try:
        return config_mod.load_preset(entry.preset, [*extra, *entry.overrides, *forced])
    except ConfigError as e:
        raise ConfigError(f"arena config '{entry.label}': {e}") from None


# ---------------------------------------------------------------------------- running


def evaluate_run(run_dir: Path, dataset: str, n: int, data_dir=None) -> dict:
    """Final scores of a run's generator (EMA weights when kept), numbers only."""
    from gankit.metrics.evaluate import evaluate_path

    result = evaluate_path(run_dir, dataset, n=n, data_dir=data_dir, seed=0)
    return {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def quality_curve(run_dir: Path, key: str) -> list[dict]:
    """``{step, elapsed_s, <key>}`` from the periodic-evaluation rows of metrics.jsonl."""
    from gankit.runs import read_metrics

    return [{"step": r["step"], "elapsed_s": r.get("elapsed_s"), key: r[key]}
            for r in read_metrics(Path(run_dir) / "metrics.jsonl") if isinstance(r.get(key), (int, float))]


def _finished(run_dir: Path, cfg) -> dict | None:
    """The saved result of a finished run with this exact config, or None."""
    done = run_dir / "arena_run.json"
    if not done.is_file() or not (run_dir / "config.yaml").is_file():
        return None
    if config_mod.load(run_dir / "config.yaml").to_dict() != cfg.to_dict():
        return None
    return json.loads(done.read_text())


def run_seeds(folder: Path, plan: list[tuple[int, config_mod.Config]], time_budget, eval_n: int, data_dir,
              progress, log=print) -> list[dict]:
    """Train and score one configuration's seeds (``plan``: (seed, config) pairs) in ``folder/seed-<k>``:
    finished runs are reused; the others train as one seed batch when the budget is in steps and
    the configuration can be batched, else one at a time."""
    from gankit.train import train, train_seeds

    rows = {seed: _finished(folder / f"seed-{seed}", cfg) for seed, cfg in plan}
    todo = [(seed, cfg) for seed, cfg in plan if rows[seed] is None]
    for seed, _ in todo:
        if (folder / f"seed-{seed}").exists():
            shutil.rmtree(folder / f"seed-{seed}")  # a half-finished or differently configured run: start clean
    batch, todo_results = 1, None  # how many seeds trained together (their elapsed_s is the batch's)
    if len(todo) > 1 and time_budget is None:
        try:
            results = train_seeds(todo[0][1], folder, [seed for seed, _ in todo], progress=progress,
                                  data_dir=data_dir)
            todo_results, batch = list(zip(todo, results)), len(todo)
            log(f"  trained seeds {', '.join(str(s) for s, _ in todo)} as one batch")
        except ValueError as e:
            log(f"  one seed at a time: {e}")
    if todo_results is None:
        todo_results = [((seed, cfg), train(cfg, folder / f"seed-{seed}", time_budget=time_budget, progress=progress,
                                            data_dir=data_dir)) for seed, cfg in todo]
    for (seed, cfg), result in todo_results:
        rows[seed] = score_run(seed, cfg, result, eval_n, data_dir, batch)
    return [rows[seed] for seed, _ in plan]


def score_run(seed: int, cfg, result, eval_n: int, data_dir, batch: int = 1) -> dict:
    """The arena's row for one trained run: final scores, FID (or modes) curve, steps and time."""
    run_dir = Path(result.run_dir)
    metrics = evaluate_run(run_dir, cfg.data.dataset, eval_n, data_dir) if not result.error else {}
    key = quality(cfg.data.dataset).headline
    curve = quality_curve(run_dir, key)
    if not curve or curve[-1]["step"] != result.step:
        curve.append({"step": result.step, "elapsed_s": round(result.elapsed_s, 3), key: metrics.get(key)})
    row = {"seed": seed, "run_dir": str(run_dir), "steps": result.step, "elapsed_s": round(result.elapsed_s, 2),
           "batch": batch, "stopped_by": result.stopped_by, "metrics": metrics, f"{key}_curve": curve,  # fid_curve for images
           **({"error": result.error} if result.error else {})}
    (run_dir / "arena_run.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


def summarise(runs: list[dict]) -> dict:
    """Mean and sample sd over seeds of every numeric metric, steps and seconds."""
    keys = sorted({k for r in runs for k in r["metrics"]})
    out = {}
    for k in keys:
        vals = [r["metrics"][k] for r in runs if isinstance(r["metrics"].get(k), (int, float))
                and math.isfinite(r["metrics"][k])]
        if vals:
            out[k] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                      "n": len(vals)}
    for k in ("steps", "elapsed_s"):
        vals = [r[k] for r in runs]
        out[k] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                  "n": len(vals)}
    return out


def run_arena(configs: list[str], out: str | Path, *, dataset: str | None = None, seeds: int = 2,
              steps: int | None = None, time_budget: float | None = None, eval_n: int = 2000,
              eval_every: int | None = None, data_dir: str | None = None, progress: bool = False,
              extra=(), log=print) -> dict:
    """Train and score every configuration x seed; write arena.json and the report.

    ``extra`` overrides go into every configuration before its own (``--set train.compile=false``).
    """
    if steps is None and time_budget is None:
        raise ConfigError("arena needs a budget: --steps N or --time-budget S")
    if steps is not None and time_budget is not None:
        raise ConfigError("give either --steps or --time-budget, not both")
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    entries = [parse_entry(c) for c in configs]
    slugs = [e.slug for e in entries]
    if len(set(slugs)) != len(slugs):
        raise ConfigError("arena configs must differ: " + ", ".join(sorted({s for s in slugs if slugs.count(s) > 1})))
    every = eval_every or (max(1, steps // 6) if steps else 100)
    plan = [(e, s, resolve(e, s, dataset, steps, time_budget, every, eval_n, extra)) for e in entries for s in range(seeds)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    budget = {"steps": steps} if steps is not None else {"time_budget_s": time_budget}
    doc = {"dataset": plan[0][2].data.dataset, "seeds": seeds, "budget": budget, "eval_n": eval_n,
           "eval_every": every, "set": list(extra), "rank_by": [k for k, _ in quality(plan[0][2].data.dataset).rank],
           "machine": machine(), "command": command(), "configs": []}
    for i, entry in enumerate(entries, 1):
        config = {"label": entry.label, "slug": entry.slug, "preset": entry.preset, "overrides": entry.overrides,
                  "active_tricks": _active(plan[(i - 1) * seeds][2]), "runs": []}
        doc["configs"].append(config)
        log(f"[{i}/{len(entries)}] {entry.label}, seeds 0..{seeds - 1}")
        config["runs"] = run_seeds(out / "runs" / entry.slug, [(s, cfg) for e, s, cfg in plan if e is entry],
                                   time_budget, eval_n, data_dir, progress, log)
        config["summary"] = summarise(config["runs"])
        _write_json(doc, out / "arena.json")  # after every configuration: an interrupted arena keeps its results
    doc["ranking"] = rank(doc)
    _write_json(doc, out / "arena.json")
    write_report(out)
    return doc


def _active(cfg) -> list[str]:
    from gankit.tricks import active

    return active(cfg)


def rank(doc: dict) -> list[str]:
    """Labels from best to worst by the dataset's quality (mean FID; mean modes, then KL, for the
    mode-collapse benchmarks); configurations without the metric last."""
    q = quality(doc["dataset"])
    return [c["label"] for c in sorted(doc["configs"], key=lambda c: q.sort_key(c.get("summary", {})))]


def _write_json(doc: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------------------- the report


def _cell(summary: dict, key: str, digits: int) -> str:
    s = summary.get(key)
    if not s:
        return "–"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}" if s["n"] > 1 else f"{s['mean']:.{digits}f}"


def table(doc: dict) -> str:
    """The ranked markdown table: mean ± sd over seeds."""
    shown = quality(doc["dataset"]).table
    present = [k for k in shown if any(k in c.get("summary", {}) for c in doc["configs"])]
    digits = {"fid": 1, "kid": 2, "modes_captured": 1, "high_quality_pct": 1}
    head = ["#", "configuration"] + [f"{k} {'↓' if shown[k] else '↑'}" for k in present] + ["steps", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    configs = {c["label"]: c for c in doc["configs"]}
    for i, label in enumerate(rank(doc), 1):
        s = configs[label].get("summary", {})
        cells = [str(i), f"`{label}`"] + [_cell(s, k, digits.get(k, 3)) for k in present]
        cells += [_cell(s, "steps", 0), _cell(s, "elapsed_s", 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(doc: dict, path: Path) -> Path:
    """The headline metric (FID, or modes captured) against iterations and against training
    seconds: one line per seed, seed 0 thick."""
    plt = _plt()
    key = quality(doc["dataset"]).headline
    rows = math.ceil(len(doc["configs"]) / 2)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2 + 0.22 * rows), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for i, c in enumerate(doc["configs"]):
        color, style = colors[i % len(colors)], styles[(i // len(colors)) % len(styles)]
        for ax, x in zip(axes, ("step", "elapsed_s")):
            for j, r in enumerate(c["runs"]):
                curve = r.get(f"{key}_curve", [])
                pts = [(p[x], p[key]) for p in curve if p.get(x) is not None and p.get(key) is not None]
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, color=color, ls=style, lw=1.8 if j == 0 else 0.8, alpha=1 if j == 0 else 0.45,
                            marker="o", ms=2.5, label=c["label"] if j == 0 and x == "step" else None)
    axes[0].set_xlabel("iteration")
    axes[1].set_xlabel("training seconds (wall clock, includes periodic evaluation)")
    for ax in axes:
        ax.set_ylabel("FID (classifier features)" if key == "fid" else key.replace("_", " "))
        if key == "fid":
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(f"{key} during training on {doc['dataset']} ({doc['seeds']} seed(s); thick line = seed 0)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_grids(doc: dict, out: Path) -> Path:
    """All seed-0 grids side by side, titled by rank and configuration."""
    from PIL import Image

    plt = _plt()
    configs = {c["label"]: c for c in doc["configs"]}
    labels = rank(doc)
    ncol = min(4, len(labels))
    nrow = math.ceil(len(labels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 4.0 * nrow), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, label) in enumerate(zip(axes.flat, labels), 1):
        img = out / "grids" / f"{configs[label]['slug']}.png"
        if img.is_file():
            ax.imshow(Image.open(img), cmap="gray", vmin=0, vmax=255)
        key = quality(doc["dataset"]).headline
        best = configs[label].get("summary", {}).get(key)
        title = "\n".join(_wrap(f"{i}. {label}", 34)) + (f"\n{key} {best['mean']:.1f}" if best else "")
        ax.set_title(title, fontsize=8)
    path = out / "grids.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]


def write_report(out: str | Path) -> Path:
    """arena.md, grids/ and fid_curves.png, from DIR/arena.json and the run folders."""
    out = Path(out)
    doc = json.loads((out / "arena.json").read_text())
    (out / "grids").mkdir(exist_ok=True)
    for c in doc["configs"]:
        first = Path(c["runs"][0]["run_dir"]) / "final.png" if c["runs"] else None
        if first and first.is_file():
            shutil.copyfile(first, out / "grids" / f"{c['slug']}.png")
    plot_curves(doc, out / "fid_curves.png")
    plot_grids(doc, out)
    budget, q = doc["budget"], quality(doc["dataset"])
    what = (f"{budget['steps']} iterations" if "steps" in budget else f"{budget['time_budget_s']:g} s of training")
    lines = [f"# Arena on {doc['dataset']}", "",
             f"Budget per run: {what}; {doc['seeds']} seed(s) per configuration; metrics on "
             f"{doc['eval_n']} generated samples; {q.headline} tracked every {doc['eval_every']} iterations. "
             f"Ranked by {', then '.join(f'{chr(8595) if lower else chr(8593)} mean {k}' for k, lower in q.rank)}; "
             f"± is the sd over seeds."
             + (f" Every configuration also had `{' '.join(doc['set'])}`." if doc.get("set") else ""), "",
             table(doc), "", "![grids](grids.png)", "", "![FID during training](fid_curves.png)", ""]
    path = out / "arena.md"
    path.write_text("\n".join(lines))
    return path
