"""The floor and the ceiling of gankit eval's numbers: real images and uniform noise, scored
exactly as a run's samples are (10,000 images, seed 0, against the test split).

    python benchmarks/eval_references.py --json docs/eval_references.json

"real train images" are the first ``--n`` training images: what a generator that copied the
training set would score at this N. "uniform noise" is uint8 noise of the data's shape.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch  # noqa: E402

from gankit.data import load_dataset  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from gankit.metrics.evaluate import evaluate_images  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="mnist,fashion-mnist")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--data-dir")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = {"machine": machine(), "command": command(), "n": args.n,
           "results": {}}
    for name in args.datasets.split(","):
        train = load_dataset(name, "train", args.data_dir)
        noise = torch.randint(0, 256, (args.n, *train.shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        for label, images in (("real train images", train.images[:args.n]), ("uniform noise", noise)):
            t = time.perf_counter()
            result = evaluate_images(images, name, args.data_dir, seed=0)
            out["results"].setdefault(name, {})[label] = result
            print(f"{name}, {label}: FID {result['fid']:.2f}, precision {result['precision']:.3f}, "
                  f"recall {result['recall']:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
