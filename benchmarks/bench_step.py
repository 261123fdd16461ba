"""Benchmark gankit's training step against the tutorial loop (same process, interleaved).

    python benchmarks/bench_step.py                      # CPU or the GPU when present
    python benchmarks/bench_step.py --device cuda --json bench_gpu.json   # nothing to install

Same as ``gankit bench``; see docs/performance.md for the figures and how to read them.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from gankit.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
