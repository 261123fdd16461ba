"""The pictures of docs/learn.md: every ``gankit learn`` lesson, with its numbers in one JSON.

    python benchmarks/learn_pictures.py --out docs/images/learn --json docs/learn.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from gankit.learn import LESSONS  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/images/learn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    lessons = {}
    for name in LESSONS.names():
        t = time.perf_counter()
        lesson = LESSONS.get(name)(Path(args.out), seed=args.seed)
        lessons[name] = {"picture": str(lesson.picture), "summary": lesson.summary, "numbers": lesson.numbers,
                         "seconds": round(time.perf_counter() - t, 1)}
        print(f"{name}: {lesson.summary}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "command": command(), "seed": args.seed,
                                               "lessons": lessons}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
