"""Benchmarks: `make bench` runs `python -m bench.run`, which measures and rewrites BENCHMARKS.md."""
