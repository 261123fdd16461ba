"""The pictures of docs/learn.md: every ``gankit learn`` lesson, with its numbers in one JSON.

    python benchmarks/learn_pictures.py --out docs/images/learn --json docs/learn.json

``--only NAME`` (repeatable) runs just the named lessons and, when the JSON exists, replaces
their entries in it and keeps the others', each with the command and machine that made it
(the top-level machine and command are the latest run's).
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
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this lesson (repeatable) and merge its entry into an existing --json")
    args = ap.parse_args(argv)
    unknown = [name for name in args.only or [] if name not in LESSONS]
    if unknown:
        ap.error(f"unknown lesson(s) {', '.join(unknown)}; choose from: {', '.join(LESSONS.names())}")
    lessons = {}
    if args.only and args.json and Path(args.json).is_file():
        old = json.loads(Path(args.json).read_text())
        if old.get("seed") != args.seed:
            ap.error(f"{args.json} holds seed {old.get('seed')}'s numbers, not seed {args.seed}'s")
        # the kept entries remember the run that made them; the top-level machine and command become this run's
        lessons = {name: {"command": old["command"], "machine": old["machine"], **entry}
                   for name, entry in old["lessons"].items()}
    for name in args.only or LESSONS.names():
        t = time.perf_counter()
        lesson = LESSONS.get(name)(Path(args.out), seed=args.seed)
        lessons[name] = {"picture": str(lesson.picture), "summary": lesson.summary, "numbers": lesson.numbers,
                         "seconds": round(time.perf_counter() - t, 1)}
        print(f"{name}: {lesson.summary}", flush=True)
    if args.json:
        lessons = dict(sorted(lessons.items()))
        Path(args.json).write_text(json.dumps({"machine": machine(), "command": command(), "seed": args.seed,
                                               "lessons": lessons}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
