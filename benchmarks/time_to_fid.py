"""Time to quality: training seconds until FID reaches a target, gankit's step against the
tutorial loop, on the same model, batch, learning rates and data.

    python benchmarks/time_to_fid.py                       # vanilla MLP and Keras DCGAN
    python benchmarks/time_to_fid.py --cases mlp-128 --target mlp-128=350 --budget 240

Each contender trains in chunks of ``--every`` steps; only the chunks are timed. After each
chunk its generator is scored (FID on ``--n`` samples against as many MNIST test images,
gankit's evaluation features; the scoring is not timed) and the first chunk at or below
the target stops it. The DCGAN case runs the DCGAN paper's optimiser (Adam 2e-4, beta1
0.5, both nets) on both sides, because the tutorial loop has one learning rate.
Training is random: a single seed per side, so read small differences as noise.

Threads: gankit runs at the count ``gankit train`` picks (``train.threads``, or its
automatic choice), the tutorial loop at torch's default for this process, as a tutorial
user runs it. Both counts, the machine and the command are written to ``--json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch  # noqa: E402

from gankit.fast import bench  # noqa: E402
from gankit.fast.reference import AsGenerator  # noqa: E402
from gankit.fast.tuning import set_threads  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from gankit.metrics.evaluate import real_subset, score  # noqa: E402
from gankit.metrics.features import featurize, reference  # noqa: E402
from gankit.sample import generate  # noqa: E402

CASES = {  # case -> (bench model, batch, overrides shared by both sides, default target FID)
    "mlp-128": ("mlp", 128, [], 400.0),
    "dcgan-128": ("dcgan", 128, ["optim.g_lr=0.0002", "optim.d_lr=0.0002", "optim.betas=[0.5, 0.999]"], 450.0),
}


def fid_of(G, cfg, real, n: int, device) -> float:
    """FID of ``n`` samples drawn as ``gankit sample`` draws them (seed 0, eval mode); not timed."""
    was = G.training
    G.eval()
    try:
        with torch.no_grad():
            images, _ = generate(G, cfg, n, seed=0, device=device)
    finally:
        G.train(was)
    return score(featurize(torch.from_numpy(images).reshape(n, 1, 28, 28), "mnist"), real, ["fid"])["fid"]


def race(name: str, step_fn, G, cfg, real, args, threads: int, target: float, device) -> dict:
    curve, seconds, steps = [], 0.0, 0
    while seconds < args.budget:
        before = set_threads(threads)
        try:
            t = time.perf_counter()
            for _ in range(args.every):
                step_fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - t
        finally:
            set_threads(before)
        steps += args.every
        fid = fid_of(G, cfg, real, args.n, device)
        curve.append((steps, round(seconds, 2), round(fid, 1)))
        print(f"  {name}: {steps} steps, {seconds:.1f} s, FID {fid:.1f}", flush=True)
        if fid <= target:
            return {"reached": True, "seconds": round(seconds, 2), "steps": steps, "curve": curve}
    return {"reached": False, "seconds": None, "steps": None, "curve": curve}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="mlp-128,dcgan-128")
    ap.add_argument("--target", action="append", default=[], help="CASE=FID, e.g. mlp-128=250")
    ap.add_argument("--budget", type=float, default=300, help="training seconds per contender before giving up")
    ap.add_argument("--every", type=int, default=0, help="steps per timed chunk (default: 1000 MLP, 100 DCGAN)")
    ap.add_argument("--n", type=int, default=2000, help="samples per FID")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    targets = {k: float(v) for k, v in (t.split("=", 1) for t in args.target)}
    device = torch.device(args.device)
    tutorial_threads = torch.get_num_threads()  # before gankit's choice changes anything
    images, source = bench.load_images(device, args.data_dir)
    if source != "mnist":
        raise SystemExit("time_to_fid needs MNIST (set GANKIT_DATA or --data-dir)")
    real = real_subset(reference("mnist", "test", args.data_dir), args.n, 0)
    every_default = args.every
    results = []
    for case in args.cases.split(","):
        model, batch, overrides, default_target = CASES[case]
        target = targets.get(case, default_target)
        args.every = every_default or (1000 if model == "mlp" else 100)
        step = bench.build_gankit(model, batch, images, device, overrides)
        cfg, threads = step.cfg, step.threads
        loop = bench.build_reference(model, batch, images, device, cfg)
        ref_G = AsGenerator(loop.G, cfg.model.z_dim, (1, 28, 28))
        before = set_threads(threads)
        t = time.perf_counter()
        step(0)  # compile, not counted
        compile_s = time.perf_counter() - t
        set_threads(before)
        print(f"[{case}] preset {cfg.preset}; gankit {step.mode}, {threads} thread(s), precision {step.precision}; "
              f"tutorial {tutorial_threads} thread(s); compile {compile_s:.1f} s (not counted); target FID {target}",
              flush=True)
        iteration = iter(range(1, 10 ** 9))
        ours = race("gankit", lambda: step(next(iteration)), step.gan.G, cfg, real, args, threads, target, device)
        tutorial = race("tutorial", loop, ref_G, cfg, real, args, tutorial_threads, target, device)
        ratio = (tutorial["seconds"] / ours["seconds"]) if ours["reached"] and tutorial["reached"] else None
        results.append({"case": case, "target_fid": target, "gankit": ours, "tutorial": tutorial,
                        "speedup": ratio, "compile_s": round(compile_s, 1), "threads": threads,
                        "precision": step.precision, "tutorial_threads": tutorial_threads})

    print("\n| case | target FID | gankit s (steps) | tutorial s (steps) | speed-up |\n|---|---|---|---|---|")
    for r in results:
        cell = lambda side: (f"{side['seconds']} ({side['steps']})" if side["reached"]  # noqa: E731
                             else f"not within {args.budget:.0f} s (best {min(c[2] for c in side['curve'])})")
        print(f"| {r['case']} | {r['target_fid']:.0f} | {cell(r['gankit'])} | {cell(r['tutorial'])} | "
              f"{'%.2fx' % r['speedup'] if r['speedup'] else '-'} |")
    if args.json:
        out = {"machine": machine(device), "command": command(),
               "budget_s": args.budget, "n": args.n, "results": results}
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
