"""Benchmark gankit's training step against the tutorial loop (same process, interleaved).

    python benchmarks/bench_step.py                      # CPU or the GPU when present
    python benchmarks/bench_step.py --device cuda --json bench_gpu.json

Same as ``gankit bench``; see docs/performance.md for the figures and how to read them.
"""
import sys

from gankit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
